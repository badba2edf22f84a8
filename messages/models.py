"""Outbound messages, their per-recipient delivery state, and their events.

A ``Message`` is what a tenant submitted; its raw MIME lives in the archive storage
(``archive_key``). Each envelope recipient is a ``Recipient`` row: the unit of
delivery, claimed by workers through its ``status`` (PostgreSQL is the queue of
record). ``MessageEvent`` is the timeline in Postmark's vocabulary.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.db.models import F
from django.db.models.functions import Lower

from accounts.models import Server


class Message(models.Model):
    class Status(models.TextChoices):
        QUEUED = "Queued"  # accepted, not every recipient finished
        SENT = "Sent"  # every recipient reached a final state
        FAILED = "Failed"  # nothing could be delivered (all bounced/suppressed)

    class Source(models.TextChoices):
        API = "api"
        SMTP = "smtp"

    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="messages"
    )
    message_stream = models.CharField(max_length=30, default="outbound")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    from_header = models.CharField(max_length=512)
    from_email = models.CharField(max_length=320)
    to_header = models.TextField(blank=True, default="")
    cc_header = models.TextField(blank=True, default="")
    bcc_header = models.TextField(blank=True, default="")
    # Lower-cased envelope recipients, comma-separated: substring search target.
    recipients_text = models.TextField(blank=True, default="")
    reply_to = models.TextField(blank=True, default="")
    subject = models.CharField(max_length=2000, blank=True, default="")
    tag = models.CharField(max_length=1000, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    attachment_names = models.JSONField(default=list, blank=True)
    track_opens = models.BooleanField(default=False)
    track_links = models.CharField(max_length=16, default="None")
    # The RFC 5322 Message-ID header we put on the message (without <>).
    header_message_id = models.CharField(max_length=998, blank=True, default="")
    size = models.PositiveIntegerField(default=0)
    # Key of the raw MIME in archive storage; "" when the server keeps no content.
    archive_key = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    sandboxed = models.BooleanField(default=False)
    received_at = models.DateTimeField(db_index=True)

    # Archive key prefix for servers that keep no content (``store_content=False``):
    # the raw MIME lives only until every recipient is final, then the purge
    # sweep deletes it. The prefix lets a tiny partial index find those objects.
    TRANSIENT_KIND = "transient"

    class Meta:
        # Every ``GET /messages/outbound`` filter is backed by an index that starts
        # with the tenant and stream and ends with the sort key, so a page is a
        # short backward index walk. PostgreSQL adds trigram and jsonb GIN
        # indexes in migration ``archive_indexes`` (substring and metadata search).
        indexes = [
            models.Index(fields=["server", "-received_at"], name="msg_server_received"),
            models.Index(
                fields=["server", "message_stream", "-received_at", "-id"],
                name="msg_stream_received",
            ),
            models.Index(
                fields=["server", "message_stream", "tag", "-received_at", "-id"],
                name="msg_stream_tag_received",
            ),
            models.Index(
                fields=["server", "message_stream", "status", "-received_at", "-id"],
                name="msg_stream_status_received",
            ),
            models.Index(
                fields=[
                    "server",
                    "message_stream",
                    "from_email",
                    "-received_at",
                    "-id",
                ],
                name="msg_stream_from_received",
            ),
            # Content-free servers: objects still to delete once delivery is final.
            models.Index(
                fields=["server", "id"],
                name="msg_transient_content",
                condition=models.Q(archive_key__startswith="transient/"),
            ),
        ]

    def __str__(self) -> str:
        return str(self.message_id)

    @property
    def tracked(self) -> bool:
        """Opens or links are tracked: each recipient gets a rewritten copy."""
        return self.track_opens or self.track_links != "None"


class Recipient(models.Model):
    class Kind(models.TextChoices):
        TO = "to"
        CC = "cc"
        BCC = "bcc"

    class Status(models.TextChoices):
        QUEUED = "queued"  # waiting for (re)delivery at next_attempt_at
        SENDING = "sending"  # claimed by a worker since claimed_at
        DELIVERED = "delivered"
        BOUNCED = "bounced"  # permanent failure, or retries exhausted
        SUPPRESSED = "suppressed"  # inactive address, never attempted
        TEST = "test"  # bounce-testing / sandbox: no delivery attempted

    FINAL_STATUSES = (Status.DELIVERED, Status.BOUNCED, Status.SUPPRESSED, Status.TEST)

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="recipients"
    )
    email = models.CharField(max_length=320)
    kind = models.CharField(max_length=3, choices=Kind.choices, default=Kind.TO)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_reply = models.TextField(blank=True, default="")
    route = models.CharField(max_length=255, blank=True, default="")
    finished_at = models.DateTimeField(null=True, blank=True)
    # Copies of the message's tenant, stream and time (set by message_send) so
    # that "messages to this address" is one B-tree range in send order, with
    # an index-only capped count (archive search; see messages/selectors.py).
    server = models.ForeignKey(
        Server,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    message_stream = models.CharField(max_length=30, blank=True, default="")
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                F("server"),
                F("message_stream"),
                Lower("email"),
                F("received_at").desc(),
                F("message").desc(),
                name="rcpt_address_received",
                # Covering email lets the capped count be an index-only scan
                # (PostgreSQL cannot do that from the lower(email) expression).
                include=["email"],
            ),
            # The delivery queue: due recipients in order.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="rcpt_queue",
                condition=models.Q(status__in=["queued", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return self.email


class RecipientAddress(models.Model):
    """One row per distinct (lower-cased) recipient address of a server: the
    dictionary that recipient *fragment* searches look up first (see
    ``messages/selectors.py``). A few hundred thousand rows per busy tenant
    instead of millions of messages, so a trigram match on it is cheap.

    Written by the database, not by Django: on PostgreSQL a statement-level
    ``AFTER INSERT`` trigger on ``mail_recipient`` adds new addresses and moves
    ``last_seen`` forward at most once a day per address (migration
    ``recipient_address_dictionary``); the retention purge deletes rows whose
    ``last_seen`` is past the server's retention. SQLite has neither the trigger
    nor the trigram index and never reads this table.
    """

    # Slack on ``last_seen``: the trigger refreshes it only when it is this far
    # behind (so a busy address is not rewritten on every send), and the purge
    # keeps rows this much longer than retention to make up for it.
    REFRESH_INTERVAL = timedelta(days=1)

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    email = models.CharField(max_length=320)  # lower(Recipient.email)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            # Also the index the trigger's ON CONFLICT and the purge use.
            models.UniqueConstraint(
                fields=["server", "email"], name="rcptaddr_server_email"
            )
        ]

    def __str__(self) -> str:
        return self.email


class MessageEvent(models.Model):
    class Type(models.TextChoices):
        DELIVERED = "Delivered"
        TRANSIENT = "Transient"
        BOUNCED = "Bounced"
        OPENED = "Opened"
        LINK_CLICKED = "LinkClicked"
        SUBSCRIPTION_CHANGED = "SubscriptionChanged"

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="events"
    )
    recipient = models.CharField(max_length=320)
    type = models.CharField(max_length=24, choices=Type.choices)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["message", "created_at"], name="event_message_time")
        ]


class RouteHealth(models.Model):
    """Health of one sender-pool route when Redis is not configured (the Redis
    store keeps the same fields in a hash). The admin lists the live pool."""

    name = models.CharField(max_length=255, unique=True)
    failures = models.PositiveIntegerField(default=0)
    down_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "sender pool route"
        verbose_name_plural = "sender pool routes"

    def __str__(self) -> str:
        return self.name
