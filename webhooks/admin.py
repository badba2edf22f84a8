"""Operator views: webhooks, and the outbox with dead letters and replay."""

from __future__ import annotations

from django.contrib import admin
from django.contrib import messages as flash
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Webhook, WebhookDelivery
from .services import webhook_delivery_replay


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("id", "server", "message_stream", "url", "created_at")
    list_filter = ("message_stream",)
    search_fields = ("url",)
    raw_id_fields = ("server",)
    list_select_related = ("server",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "webhook",
        "record_type",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "record_type")
    search_fields = ("trace_id",)
    raw_id_fields = ("webhook",)
    list_select_related = ("webhook",)
    readonly_fields = ("trace_id", "created_at", "delivered_at", "dead_at")
    actions = ["replay"]

    @admin.action(description="Replay selected dead deliveries")
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        replayed = 0
        for delivery_id in queryset.filter(
            status=WebhookDelivery.Status.DEAD
        ).values_list("id", flat=True):
            webhook_delivery_replay(delivery_id=delivery_id)
            replayed += 1
        flash.success(request, f"{replayed} dead deliveries queued again.")
