from django.contrib import admin

from .models import InboundMessage, InboundRule


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = (
        "message_id",
        "server",
        "original_recipient",
        "from_email",
        "subject",
        "status",
        "attempts",
        "received_at",
    )
    list_filter = ("status",)
    search_fields = ("message_id", "original_recipient", "from_email", "subject")
    readonly_fields = ("message_id", "raw_key", "summary")
    raw_id_fields = ("server",)


@admin.register(InboundRule)
class InboundRuleAdmin(admin.ModelAdmin):
    list_display = ("rule", "server", "created_at")
    search_fields = ("rule",)
    raw_id_fields = ("server",)
