"""Bounces and suppressions (inactive recipients), per server and stream."""

from __future__ import annotations

from django.db import models

from accounts.models import Server
from messages.models import Message

# Postmark's numeric TypeCode per type, kept with the reason table (pure code).
from .engine.table import TYPE_CODES  # noqa: F401 - re-exported


class BounceType(models.TextChoices):
    """Postmark's bounce types; ``TYPE_CODES`` maps them to numeric TypeCode."""

    HARD_BOUNCE = "HardBounce", "Hard bounce"
    TRANSIENT = "Transient", "Message delayed"
    UNSUBSCRIBE = "Unsubscribe", "Unsubscribe request"
    SUBSCRIBE = "Subscribe", "Subscribe request"
    AUTO_RESPONDER = "AutoResponder", "Auto responder"
    ADDRESS_CHANGE = "AddressChange", "Address change"
    DNS_ERROR = "DnsError", "DNS error"
    SPAM_NOTIFICATION = "SpamNotification", "Spam notification"
    OPEN_RELAY_TEST = "OpenRelayTest", "Open relay test"
    UNKNOWN = "Unknown", "Unknown"
    SOFT_BOUNCE = "SoftBounce", "Soft bounce"
    VIRUS_NOTIFICATION = "VirusNotification", "Virus notification"
    CHALLENGE_VERIFICATION = "ChallengeVerification", "Spam challenge verification"
    BAD_EMAIL_ADDRESS = "BadEmailAddress", "Invalid email address"
    SPAM_COMPLAINT = "SpamComplaint", "Spam complaint"
    MANUALLY_DEACTIVATED = "ManuallyDeactivated", "Manually deactivated"
    UNCONFIRMED = "Unconfirmed", "Registration not confirmed"
    BLOCKED = "Blocked", "ISP block"
    SMTP_API_ERROR = "SMTPApiError", "SMTP API error"
    INBOUND_ERROR = "InboundError", "Processing failed"
    DMARC_POLICY = "DMARCPolicy", "DMARC Policy"
    TEMPLATE_RENDERING_FAILED = "TemplateRenderingFailed", "Template rendering failed"


# Postmark's numeric TypeCode per type (kept with the reason table, pure code).


class Bounce(models.Model):
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="bounces")
    message = models.ForeignKey(
        Message,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bounces",
    )
    # Copied from the message so bounces outlive archive retention.
    message_uuid = models.UUIDField(null=True, blank=True)
    message_stream = models.CharField(max_length=30, default="outbound")
    type = models.CharField(max_length=32, choices=BounceType.choices)
    type_code = models.PositiveIntegerField()
    email = models.CharField(max_length=320)
    from_header = models.CharField(max_length=512, blank=True, default="")
    subject = models.CharField(max_length=2000, blank=True, default="")
    tag = models.CharField(max_length=1000, blank=True, default="")
    description = models.TextField(blank=True, default="")
    details = models.TextField(blank=True, default="")
    # The engine's reason (bounces/engine/table.py), "" when the caller set the
    # type itself (bounce testing, SMTP API errors). Not part of Postmark's API.
    reason = models.CharField(max_length=32, blank=True, default="")
    # Archive key of the raw report (DSN, ARF, SMTP transcript); "" if none.
    dump_key = models.CharField(max_length=255, blank=True, default="")
    inactive = models.BooleanField(default=False)
    can_activate = models.BooleanField(default=True)
    bounced_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["server", "-bounced_at"], name="bounce_server_time")
        ]


class Suppression(models.Model):
    class Reason(models.TextChoices):
        HARD_BOUNCE = "HardBounce"
        SPAM_COMPLAINT = "SpamComplaint"
        MANUAL = "ManualSuppression"

    class Origin(models.TextChoices):
        RECIPIENT = "Recipient"
        CUSTOMER = "Customer"
        ADMIN = "Admin"

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="suppressions"
    )
    message_stream = models.CharField(max_length=30)
    email = models.CharField(max_length=320)  # lower-cased
    reason = models.CharField(max_length=24, choices=Reason.choices)
    origin = models.CharField(max_length=16, choices=Origin.choices)
    bounce = models.ForeignKey(Bounce, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["server", "message_stream", "email"], name="suppression_unique"
            )
        ]


class DailyStat(models.Model):
    """One per-day counter: ``value`` events named ``name`` (``Sent``,
    ``HardBounce``, ``SpamComplaint``, ...) for a server, stream and tag.

    Rows with ``tag_key == ""`` are the roll-up over every tag, so reads without a
    tag filter touch at most days x streams x counters rows, however many messages
    the archive holds. Tagged events are also counted under their own
    ``tag_key`` (see ``bounces.stats.stats_tag_key``). Written only through
    ``bounces.stats.stats_record`` (an upsert that adds).

    A counter is split over up to ``STATS_COUNTER_SHARDS`` rows (``shard``) and
    readers sum them: with a single row, every submission transaction of a
    server would queue on that row's lock until the previous one committed.
    """

    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="daily_stats"
    )
    day = models.DateField()
    message_stream = models.CharField(max_length=30)
    # "" = all tags; else the tag, or "sha256:<hex>" for tags too long to index.
    tag_key = models.CharField(max_length=80, blank=True, default="")
    name = models.CharField(max_length=40)
    shard = models.PositiveSmallIntegerField(default=0)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # The upsert's conflict target. Its column order serves the reads:
            # (server, tag_key, day range) touches only the roll-up rows, or one
            # tag's rows, never every tag's.
            models.UniqueConstraint(
                fields=["server", "tag_key", "day", "message_stream", "name", "shard"],
                name="dailystat_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.message_stream} {self.tag_key!r} {self.name}"


class UnmatchedReport(models.Model):
    """A report the bounce MX or the pool webhook could not tie to one of our
    messages and recipients (no VERP, unknown Message-ID, purged rows). Kept for
    the operator, with the raw report in the archive; visible in the admin."""

    class Source(models.TextChoices):
        BOUNCE_MX = "bounce_mx"
        POOL_WEBHOOK = "pool_webhook"

    source = models.CharField(max_length=16, choices=Source.choices)
    received_at = models.DateTimeField(db_index=True)
    mail_from = models.CharField(max_length=320, blank=True, default="")
    rcpt_to = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=16, blank=True, default="")
    bounce_type = models.CharField(max_length=32, blank=True, default="")
    email = models.CharField(max_length=320, blank=True, default="")
    original_message_id = models.CharField(max_length=998, blank=True, default="")
    reason = models.CharField(max_length=255, blank=True, default="")
    dump_key = models.CharField(max_length=255, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.source} {self.received_at:%Y-%m-%d %H:%M} {self.email}"


class PoolWebhookNonce(models.Model):
    """Signatures (or SNS MessageIds) already accepted by ``POST /webhooks/bounce``,
    kept until ``expires_at`` so a replay inside the freshness window is refused."""

    key = models.CharField(max_length=128, unique=True)
    expires_at = models.DateTimeField(db_index=True)
