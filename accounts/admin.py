"""Django admin for tenancy. Secrets never appear: token hashes and DKIM private
keys are excluded from every form and list."""

from __future__ import annotations

from django.contrib import admin

from .models import Account, AccountToken, Domain, MessageStream, Server, ServerToken


class ServerInline(admin.TabularInline):
    model = Server
    fields = ("name", "color", "delivery_type")
    extra = 0
    show_change_link = True


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "created_at")
    search_fields = ("name",)
    inlines = [ServerInline]


class TokenAdminBase(admin.ModelAdmin):
    """Tokens are created by services (the plaintext is shown once, elsewhere);
    here they can only be inspected and revoked."""

    list_display = ("id", "masked", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    exclude = ("token_hash",)
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AccountToken)
class AccountTokenAdmin(TokenAdminBase):
    list_display = ("account", *TokenAdminBase.list_display)
    readonly_fields = ("account", *TokenAdminBase.readonly_fields)


@admin.register(ServerToken)
class ServerTokenAdmin(TokenAdminBase):
    list_display = ("server", *TokenAdminBase.list_display)
    readonly_fields = ("server", *TokenAdminBase.readonly_fields)


class MessageStreamInline(admin.TabularInline):
    model = MessageStream
    fields = ("stream_id", "name", "stream_type", "archived_at")
    extra = 0


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "account", "delivery_type", "created_at")
    list_filter = ("delivery_type",)
    search_fields = ("name", "account__name")
    readonly_fields = ("delivery_type", "inbound_hash", "created_at")
    inlines = [MessageStreamInline]


@admin.register(MessageStream)
class MessageStreamAdmin(admin.ModelAdmin):
    list_display = ("stream_id", "server", "stream_type", "created_at", "archived_at")
    list_filter = ("stream_type",)
    search_fields = ("stream_id", "name", "server__name")


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "account",
        "dkim_verified",
        "return_path_domain",
        "return_path_verified",
    )
    list_filter = ("dkim_verified", "return_path_verified")
    search_fields = ("name", "account__name")
    # The DKIM private key signs mail as this domain: never shown or edited here.
    exclude = ("dkim_private_key",)
    readonly_fields = (
        "dkim_selector",
        "dkim_public_key",
        "dkim_verified_at",
        "created_at",
    )
