"""Operator views: bounces, suppressions and reports the MX could not match."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from messages.archive import archive_get

from .models import Bounce, Suppression, UnmatchedReport


@admin.register(Bounce)
class BounceAdmin(admin.ModelAdmin):
    list_display = ("id", "server", "type", "reason", "email", "inactive", "bounced_at")
    list_filter = ("type", "reason", "inactive")
    search_fields = ("email", "message_uuid")
    raw_id_fields = ("server", "message")


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("server", "message_stream", "email", "reason", "origin")
    list_filter = ("reason", "origin")
    search_fields = ("email",)
    raw_id_fields = ("server", "bounce")


@admin.register(UnmatchedReport)
class UnmatchedReportAdmin(admin.ModelAdmin):
    list_display = ("received_at", "source", "kind", "bounce_type", "email", "reason")
    list_filter = ("source", "kind", "bounce_type")
    search_fields = ("email", "original_message_id", "rcpt_to")
    readonly_fields = [f.name for f in UnmatchedReport._meta.fields] + ["raw_report"]

    @admin.display(description="Raw report")
    def raw_report(self, obj: UnmatchedReport) -> str:
        data = archive_get(key=obj.dump_key) or b""
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>",
            data[:200_000].decode("utf-8", errors="replace"),
        )
