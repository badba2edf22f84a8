"""Received inbound messages and the server's inbound blocking rules."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from accounts.models import Server


class InboundMessage(models.Model):
    """One message received at the MX for one envelope recipient of a server.

    The raw MIME lives in the archive (``raw_key``); ``summary`` holds the
    list fields of Postmark's inbound JSON so searches never read the archive.
    Delivery to the server's ``InboundHookUrl`` is claimed by a conditional
    UPDATE that leases ``next_attempt_at`` (see ``inbound.services``).
    """

    class Status(models.TextChoices):
        # Values are Postmark's ``Status`` strings; filters use them lower-cased.
        QUEUED = "Queued"  # waiting for its first POST (or a worker's lease)
        SCHEDULED = "Scheduled"  # a POST failed; retrying at next_attempt_at
        PROCESSED = "Processed"  # the hook answered 200 (or there is no hook)
        BLOCKED = "Blocked"  # spam threshold or an inbound rule; bypassable
        FAILED = "Failed"  # retries exhausted or the hook answered 403

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="inbound_messages"
    )
    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    message_stream = models.CharField(max_length=30, default="inbound")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    received_at = models.DateTimeField()
    # Envelope: MAIL FROM and the RCPT TO this row is for (OriginalRecipient).
    mail_from = models.CharField(max_length=320, blank=True, default="")
    original_recipient = models.CharField(max_length=320)
    mailbox_hash = models.CharField(max_length=320, blank=True, default="")
    from_email = models.CharField(max_length=320, blank=True, default="")
    subject = models.CharField(max_length=2000, blank=True, default="")
    tag = models.CharField(max_length=1000, blank=True, default="")
    # Lower-cased To, Cc and original recipient addresses, comma-separated.
    recipients_text = models.TextField(blank=True, default="")
    spam_score = models.FloatField(null=True, blank=True)
    # Postmark's list fields (From, FromFull, ToFull, Date, Attachments, ...).
    summary = models.JSONField(default=dict)
    raw_key = models.CharField(max_length=255)
    size = models.PositiveIntegerField(default=0)
    blocked_reason = models.CharField(max_length=500, blank=True, default="")
    # POST attempts in the current round (reset by a retry or a bypass).
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    # What the hook answered last (status line and the start of the body).
    hook_response = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["server", "-received_at", "-id"], name="inbound_server_time"
            ),
            # The sweeper's queue: messages waiting for a POST, by due time.
            models.Index(
                fields=["next_attempt_at"],
                name="inbound_due",
                condition=Q(status__in=["Queued", "Scheduled"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_recipient} ({self.status})"


class InboundRule(models.Model):
    """Postmark's inbound rule trigger: mail from this address or domain is
    blocked (status Blocked) instead of being posted to the hook."""

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="inbound_rules"
    )
    rule = models.CharField(max_length=320)  # lower-cased address or domain
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["server", "rule"], name="inbound_rule_unique"
            )
        ]

    def __str__(self) -> str:
        return self.rule
