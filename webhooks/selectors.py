"""Reads for tenant webhooks. Every lookup takes the server (tenant)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Server

from .models import Webhook, WebhookDelivery


def webhook_list(*, server: Server, message_stream: str = "") -> QuerySet[Webhook]:
    """The server's webhooks, optionally of one stream, oldest first."""
    qs = Webhook.objects.filter(server=server)
    if message_stream:
        qs = qs.filter(message_stream=message_stream.lower())
    return qs.order_by("id")


def webhook_get(*, server: Server, webhook_id: int) -> Webhook | None:
    """The server's webhook ``webhook_id``; ``None`` if missing or another
    tenant's (indistinguishable on purpose)."""
    return Webhook.objects.filter(server=server, id=webhook_id).first()


def webhook_delivery_list(
    *, server: Server, status: str = "", limit: int = 100
) -> list[WebhookDelivery]:
    """The server's most recent outbox rows, optionally of one status."""
    qs = WebhookDelivery.objects.filter(webhook__server=server)
    if status:
        qs = qs.filter(status=status)
    return list(qs.select_related("webhook").order_by("-created_at", "-id")[:limit])


def webhook_streams(*, server_ids: set[int]) -> set[tuple[int, str]]:
    """``(server_id, message_stream)`` pairs that have at least one webhook.

    Lets a batch caller (delivery records hundreds of outcomes per transaction)
    skip ``webhook_emit``'s per-event lookup for streams nobody listens to: one
    query per batch instead of one per event."""
    return set(
        Webhook.objects.filter(server_id__in=server_ids).values_list(
            "server_id", "message_stream"
        )
    )
