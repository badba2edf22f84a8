"""Read-only admin lists of opens and clicks (support and debugging)."""

from __future__ import annotations

from django.contrib import admin

from .models import Click, Open


class _ReadOnly(admin.ModelAdmin):
    list_select_related = ("message",)
    search_fields = ("recipient", "message__message_id")
    list_filter = ("platform",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Open)
class OpenAdmin(_ReadOnly):
    list_display = ("received_at", "recipient", "client_name", "platform", "message")


@admin.register(Click)
class ClickAdmin(_ReadOnly):
    list_display = ("received_at", "recipient", "original_link", "click_location")
