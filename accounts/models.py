"""Tenancy: Account → Servers → Message streams; sender Domains; API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q


class Account(models.Model):
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class TokenBase(models.Model):
    """A random token stored as a SHA-256 hash, found by an indexed prefix.

    The plaintext exists only in the creation response. Tokens are UUID-shaped like
    Postmark's, so clients that validate the shape accept them.
    """

    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def masked(self) -> str:
        return f"{self.prefix}…"


class AccountToken(TokenBase):
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="tokens"
    )


class Server(models.Model):
    class Color(models.TextChoices):
        PURPLE = "Purple"
        BLUE = "Blue"
        TURQUOISE = "Turquoise"
        GREEN = "Green"
        RED = "Red"
        YELLOW = "Yellow"
        GREY = "Grey"
        ORANGE = "Orange"

    class DeliveryType(models.TextChoices):
        LIVE = "Live"
        SANDBOX = "Sandbox"

    class TrackLinks(models.TextChoices):
        NONE = "None"
        HTML_AND_TEXT = "HtmlAndText"
        HTML_ONLY = "HtmlOnly"
        TEXT_ONLY = "TextOnly"

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="servers"
    )
    name = models.CharField(max_length=255)
    color = models.CharField(max_length=16, choices=Color.choices, default=Color.PURPLE)
    delivery_type = models.CharField(
        max_length=16, choices=DeliveryType.choices, default=DeliveryType.LIVE
    )
    smtp_api_activated = models.BooleanField(default=True)
    raw_email_enabled = models.BooleanField(default=False)
    track_opens = models.BooleanField(default=False)
    track_links = models.CharField(
        max_length=16, choices=TrackLinks.choices, default=TrackLinks.NONE
    )
    inbound_hash = models.CharField(max_length=40, blank=True, default="")
    inbound_domain = models.CharField(max_length=255, blank=True, default="")
    inbound_spam_threshold = models.PositiveSmallIntegerField(default=0)
    inbound_hook_url = models.CharField(max_length=2000, blank=True, default="")
    bounce_hook_url = models.CharField(max_length=2000, blank=True, default="")
    open_hook_url = models.CharField(max_length=2000, blank=True, default="")
    delivery_hook_url = models.CharField(max_length=2000, blank=True, default="")
    click_hook_url = models.CharField(max_length=2000, blank=True, default="")
    post_first_open_only = models.BooleanField(default=False)
    include_bounce_content_in_hook = models.BooleanField(default=False)
    enable_smtp_api_error_hooks = models.BooleanField(default=False)
    # Archive policy (Postmark: 45 days default, 7–365).
    retention_days = models.PositiveSmallIntegerField(default=45)
    # False: keep metadata only, never the message content.
    store_content = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name"], name="server_name_per_account"
            ),
            models.CheckConstraint(
                condition=Q(retention_days__gte=1) & Q(retention_days__lte=365),
                name="server_retention_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ServerToken(TokenBase):
    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="tokens")


class MessageStream(models.Model):
    class Type(models.TextChoices):
        TRANSACTIONAL = "Transactional"
        BROADCASTS = "Broadcasts"
        INBOUND = "Inbound"

    class UnsubscribeHandling(models.TextChoices):
        NONE = "None"
        POSTMARK = "Postmark"  # we add the link, headers and handle the click
        CUSTOM = "Custom"  # the tenant runs its own unsubscribe process

    # Postmark purges an archived stream this many days after archiving it; until
    # then it can be unarchived.
    ARCHIVE_PURGE_DAYS = 45

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="streams")
    stream_id = models.CharField(max_length=30)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=1000, blank=True, default="")
    stream_type = models.CharField(max_length=16, choices=Type.choices)
    unsubscribe_handling = models.CharField(max_length=16, default="None")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["server", "stream_id"], name="stream_id_per_server"
            )
        ]

    def __str__(self) -> str:
        return self.stream_id

    @property
    def expected_purge_at(self) -> datetime | None:
        if self.archived_at is None:
            return None
        return self.archived_at + timedelta(days=self.ARCHIVE_PURGE_DAYS)

    @property
    def adds_unsubscribe(self) -> bool:
        """Whether its messages get our List-Unsubscribe headers and link."""
        return (
            self.stream_type == self.Type.BROADCASTS
            and self.unsubscribe_handling == self.UnsubscribeHandling.POSTMARK
        )


class Domain(models.Model):
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="domains"
    )
    name = models.CharField(max_length=255)
    # DKIM: selector like "20261123120000pm"; RSA-2048 private key in PEM.
    dkim_selector = models.CharField(max_length=63)
    dkim_private_key = models.TextField()
    dkim_public_key = models.TextField(help_text="base64 DER SubjectPublicKeyInfo (p=)")
    dkim_verified = models.BooleanField(default=False)
    dkim_verified_at = models.DateTimeField(null=True, blank=True)
    return_path_domain = models.CharField(max_length=255, blank=True, default="")
    return_path_verified = models.BooleanField(default=False)
    spf_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name"], name="domain_name_per_account"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def dkim_host(self) -> str:
        return f"{self.dkim_selector}._domainkey.{self.name}"

    @property
    def dkim_text_value(self) -> str:
        return f"k=rsa; p={self.dkim_public_key}"


class Membership(models.Model):
    """A web UI user's access to one account (and so to all of its servers).

    Admins manage tokens, domains, webhooks, retention and the team; members read
    the archive and act on bounces and suppressions.
    """

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "account"], name="membership_user_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.account_id}:{self.role}"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN
