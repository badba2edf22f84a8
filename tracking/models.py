"""Open and click records (Postmark's Open and Click objects, §5 and §7.2).

One ``Open`` row per recipient of a message: the first open (Postmark stores only
the first; later opens are counted in the statistics and can still be posted to
webhooks without ``PostFirstOpenOnly``). One ``Click`` row per recipient and
distinct link: Postmark's "unique per link per recipient"; every click counts in
the statistics. Both are deleted with their message (retention purge).
"""

from __future__ import annotations

from django.db import models

from accounts.models import Server
from messages.models import Message


class Platform(models.TextChoices):
    DESKTOP = "Desktop"
    MOBILE = "Mobile"
    WEBMAIL = "WebMail"
    UNKNOWN = "Unknown"


class ClickLocation(models.TextChoices):
    HTML = "HTML"
    TEXT = "Text"


class _Event(models.Model):
    server = models.ForeignKey(
        Server, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    # Copies of the message's stream and tag: list filters without a join.
    message_stream = models.CharField(max_length=30)
    tag = models.CharField(max_length=1000, blank=True, default="")
    recipient = models.CharField(max_length=320)
    received_at = models.DateTimeField()
    user_agent = models.TextField(blank=True, default="")
    client_name = models.CharField(max_length=100, blank=True, default="")
    client_company = models.CharField(max_length=100, blank=True, default="")
    client_family = models.CharField(max_length=100, blank=True, default="")
    os_name = models.CharField(max_length=100, blank=True, default="")
    os_company = models.CharField(max_length=100, blank=True, default="")
    os_family = models.CharField(max_length=100, blank=True, default="")
    platform = models.CharField(
        max_length=8, choices=Platform.choices, default=Platform.UNKNOWN
    )
    ip = models.GenericIPAddressField(null=True, blank=True)
    # Geo fields stay empty: no offline geolocation data is bundled (docs).
    country = models.CharField(max_length=100, blank=True, default="")
    region = models.CharField(max_length=100, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        abstract = True


class Open(_Event):
    first_open = models.BooleanField(default=True)
    read_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "recipient"], name="open_one_per_recipient"
            )
        ]
        indexes = [
            models.Index(
                fields=["server", "message_stream", "-received_at", "-id"],
                name="open_stream_received",
            )
        ]


class Click(_Event):
    original_link = models.TextField()
    # sha256 of the link: the uniqueness key (links may be longer than an index
    # entry may be).
    link_hash = models.CharField(max_length=64)
    click_location = models.CharField(
        max_length=4, choices=ClickLocation.choices, default=ClickLocation.HTML
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "recipient", "link_hash"],
                name="click_one_per_link_recipient",
            )
        ]
        indexes = [
            models.Index(
                fields=["server", "message_stream", "-received_at", "-id"],
                name="click_stream_received",
            )
        ]
