"""Writes for tenant webhooks (Postmark's Delivery/Bounce/SpamComplaint hooks):
configuration (``config``) and the outbox with signed delivery (``outbox``)."""

from .config import (
    MAX_WEBHOOKS_PER_STREAM,
    WebhookInput,
    webhook_create,
    webhook_delete,
    webhook_update,
)
from .outbox import (
    webhook_deliveries_enqueue_due,
    webhook_deliveries_purge,
    webhook_delivery_attempt,
    webhook_delivery_replay,
    webhook_emit,
    webhook_request,
)

__all__ = [
    "MAX_WEBHOOKS_PER_STREAM",
    "WebhookInput",
    "webhook_create",
    "webhook_delete",
    "webhook_deliveries_enqueue_due",
    "webhook_deliveries_purge",
    "webhook_delivery_attempt",
    "webhook_delivery_replay",
    "webhook_emit",
    "webhook_request",
    "webhook_update",
]
