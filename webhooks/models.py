"""Tenant webhooks (Postmark's per-stream webhooks) and their durable outbox."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from django.db import models
from django.db.models import Q

from accounts.models import Server

# Postmark's triggers and their options (postmark-api.md §7.1), with defaults.
TRIGGER_OPTIONS: dict[str, dict[str, bool]] = {
    "Open": {"Enabled": False, "PostFirstOpenOnly": False},
    "Click": {"Enabled": False},
    "Delivery": {"Enabled": False},
    "Bounce": {"Enabled": False, "IncludeContent": False},
    "SpamComplaint": {"Enabled": False, "IncludeContent": False},
    "SubscriptionChange": {"Enabled": False},
}


def default_triggers() -> dict[str, dict[str, bool]]:
    return {name: dict(options) for name, options in TRIGGER_OPTIONS.items()}


def new_signing_secret() -> str:
    return secrets.token_hex(32)


class Webhook(models.Model):
    """One URL receiving the enabled ``triggers`` of one stream of a server."""

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="webhooks"
    )
    message_stream = models.CharField(max_length=30)
    url = models.CharField(max_length=2000)
    http_auth_username = models.CharField(max_length=255, blank=True, default="")
    http_auth_password = models.CharField(max_length=255, blank=True, default="")
    # Postmark's ``HttpHeaders``: ``[{"Name": ..., "Value": ...}]``, sent verbatim.
    http_headers = models.JSONField(default=list, blank=True)
    # Postmark's ``Triggers`` object, always complete (see TRIGGER_OPTIONS).
    triggers = models.JSONField(default=default_triggers)
    # Key of our HMAC-SHA256 ``X-PM-Signature`` header (Postmark does not sign).
    signing_secret = models.CharField(max_length=64, default=new_signing_secret)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["server", "message_stream"], name="webhook_stream")
        ]

    def __str__(self) -> str:
        return f"{self.message_stream} → {self.url}"

    def trigger_enabled(self, record_type: str) -> bool:
        return bool((self.triggers or {}).get(record_type, {}).get("Enabled"))

    def trigger_option(self, record_type: str, option: str) -> Any:
        return (self.triggers or {}).get(record_type, {}).get(option, False)


class WebhookDelivery(models.Model):
    """One payload to POST to one webhook: the outbox row, its retries and fate.

    Written in the transaction that records the event; a worker claims it by a
    conditional UPDATE (a lease on ``next_attempt_at``), POSTs outside any
    transaction, and records the outcome.
    """

    class Status(models.TextChoices):
        PENDING = "pending"  # due at next_attempt_at (or leased by a worker)
        DELIVERED = "delivered"
        DEAD = "dead"  # retries exhausted or refused (4xx): replayable

    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, related_name="deliveries"
    )
    record_type = models.CharField(max_length=32)
    # The JSON request body exactly as POSTed: text, not jsonb, so Postmark's key
    # order survives and every retry sends (and signs) the same bytes.
    body = models.TextField()
    # Postmark's X-PM-Webhook-Trace-Id: stable across retries, for receiver dedupe.
    trace_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sweeper's queue: due pending rows in order.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["webhook", "-created_at"], name="webhook_delivery_log"
            ),
            # The retention purge: finished rows by age.
            models.Index(
                fields=["created_at"],
                name="webhook_delivery_finished",
                condition=~Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_type} #{self.pk} ({self.status})"

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @staticmethod
    def encode(payload: dict[str, Any]) -> str:
        return json.dumps(payload, ensure_ascii=False)
