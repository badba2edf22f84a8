"""Writes for tenancy: accounts, servers, streams and API tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from postmark_clone.errors import ApplicationError

from ..models import (
    Account,
    AccountToken,
    MessageStream,
    Server,
    ServerToken,
)
from ..tokens import token_generate, token_hash, token_prefix
from .domains import _DOMAIN_RE

DEFAULT_STREAMS = (
    (
        "outbound",
        "Default Transactional Stream",
        MessageStream.Type.TRANSACTIONAL,
        "None",
    ),
    ("inbound", "Default Inbound Stream", MessageStream.Type.INBOUND, "None"),
    (
        "broadcast",
        "Default Broadcast Stream",
        MessageStream.Type.BROADCASTS,
        "Postmark",
    ),
)


T = TypeVar("T")


@dataclass(frozen=True)
class Created(Generic[T]):
    """A freshly created object plus the one-time plaintext of its token."""

    obj: T
    token: str


def account_create(*, name: str) -> Created[Account]:
    """Create an account with one account token. Not idempotent."""
    with transaction.atomic():
        account = Account.objects.create(name=name)
        token = account_token_create(account=account).token
    return Created(account, token)


def account_token_create(*, account: Account, name: str = "") -> Created[AccountToken]:
    plaintext = token_generate()
    row = AccountToken.objects.create(
        account=account,
        prefix=token_prefix(plaintext),
        token_hash=token_hash(plaintext),
        name=name,
    )
    return Created(row, plaintext)


def server_token_create(*, server: Server, name: str = "") -> Created[ServerToken]:
    """Add a server API token. The plaintext is returned once and never stored."""
    plaintext = token_generate()
    row = ServerToken.objects.create(
        server=server,
        prefix=token_prefix(plaintext),
        token_hash=token_hash(plaintext),
        name=name,
    )
    return Created(row, plaintext)


def token_revoke(*, token: AccountToken | ServerToken) -> None:
    """Revoke a token; safe to call twice."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def server_create(*, account: Account, name: str, **fields: Any) -> Created[Server]:
    """Create a server with its default streams (``outbound``, ``inbound``,
    ``broadcast``) and a first API token.

    ``fields`` are snake_case server settings (see ``SERVER_FIELDS``) plus
    ``delivery_type``, which is fixed from then on. Raises ``ApplicationError``
    with Postmark's server codes (603 name taken, 606–613 bad values). Not
    idempotent: a second call with the same name fails with 603.
    """
    delivery_type = fields.pop("delivery_type", None)
    server = Server(account=account, inbound_hash=secrets.token_hex(16))
    if delivery_type is not None:
        server.delivery_type = _choice(
            delivery_type, Server.DeliveryType, 613, "DeliveryType"
        )
    values = _server_clean({"name": name, **fields})
    _server_name_free(account_id=account.id, name=values["name"])
    for field, value in values.items():
        setattr(server, field, value)
    try:
        with transaction.atomic():
            server.save()
            MessageStream.objects.bulk_create(
                MessageStream(
                    server=server,
                    stream_id=stream_id,
                    name=stream_name,
                    stream_type=stream_type,
                    unsubscribe_handling=unsubscribe,
                )
                for stream_id, stream_name, stream_type, unsubscribe in DEFAULT_STREAMS
            )
            token = server_token_create(server=server).token
    except IntegrityError as exc:
        # A concurrent create won the unique (account, name) race.
        raise _name_taken(server.name) from exc
    return Created(server, token)


def server_update(*, server: Server, **fields: Any) -> Server:
    """Change any subset of a server's editable settings (``SERVER_FIELDS``).

    ``delivery_type`` is fixed at creation and ignored here, as Postmark does.
    Raises ``ApplicationError`` (603, 606–613) and leaves the row unchanged on bad
    input. Safe to call twice with the same values.
    """
    fields.pop("delivery_type", None)
    if not fields:
        return server
    values = _server_clean(fields)
    if "name" in values:
        _server_name_free(
            account_id=server.account_id, name=values["name"], exclude_id=server.id
        )
    for field, value in values.items():
        setattr(server, field, value)
    try:
        server.save(update_fields=sorted(values))
    except IntegrityError as exc:
        raise _name_taken(server.name) from exc
    return server


def server_delete(*, server: Server) -> None:
    """Delete a server with its streams, tokens, messages, bounces and
    suppressions (database cascade). Raw MIME already in the archive storage is
    left for the retention sweeper. Safe to call twice (the second does nothing).
    """
    Server.objects.filter(pk=server.pk).delete()


SERVER_FIELDS = frozenset(
    {
        "name",
        "color",
        "smtp_api_activated",
        "raw_email_enabled",
        "track_opens",
        "track_links",
        "inbound_domain",
        "inbound_spam_threshold",
        "inbound_hook_url",
        "bounce_hook_url",
        "open_hook_url",
        "delivery_hook_url",
        "click_hook_url",
        "post_first_open_only",
        "include_bounce_content_in_hook",
        "enable_smtp_api_error_hooks",
    }
)
_HOOK_FIELDS = {
    "inbound_hook_url": "InboundHookUrl",
    "bounce_hook_url": "BounceHookUrl",
    "open_hook_url": "OpenHookUrl",
    "delivery_hook_url": "DeliveryHookUrl",
    "click_hook_url": "ClickHookUrl",
}


def _server_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate ``fields`` with Postmark's codes; return their canonical values."""
    unknown = set(fields) - SERVER_FIELDS
    if unknown:
        raise ApplicationError(403, f"Unknown server field(s): {sorted(unknown)}.")
    values: dict[str, Any] = {}
    for field, value in fields.items():
        if field == "name":
            name = value.strip() if isinstance(value, str) else ""
            if not name or len(name) > 255 or "\n" in name or "\r" in name:
                raise ApplicationError(
                    608, "The server Name is required and must be 1–255 characters."
                )
            values[field] = name
        elif field == "color":
            values[field] = _choice(value, Server.Color, 607, "Color")
        elif field == "track_links":
            values[field] = _choice(value, Server.TrackLinks, 612, "TrackLinks")
        elif field == "inbound_spam_threshold":
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= 30
                or value % 5
            ):
                raise ApplicationError(
                    611, "InboundSpamThreshold must be 0–30 in steps of 5."
                )
            values[field] = value
        elif field in _HOOK_FIELDS:
            values[field] = _hook_url(value, _HOOK_FIELDS[field])
        elif field == "inbound_domain":
            if not isinstance(value, str):
                raise ApplicationError(403, "InboundDomain must be a string.")
            domain = value.strip().lower()
            if domain and not _DOMAIN_RE.match(domain):
                raise ApplicationError(403, f"InboundDomain '{value}' is not a domain.")
            values[field] = domain
        else:
            if not isinstance(value, bool):
                raise ApplicationError(403, f"The '{field}' setting must be a boolean.")
            values[field] = value
    return values


def _choice(value: Any, choices: Any, code: int, label: str) -> str:
    """Match ``value`` against a TextChoices ignoring case (Postmark's
    recordings show ``"red"`` for ``Red``) and return the canonical spelling."""
    if isinstance(value, str):
        for choice in choices.values:
            if choice.lower() == value.strip().lower():
                return choice
    allowed = ", ".join(choices.values)
    raise ApplicationError(code, f"Invalid {label} '{value}'. Use one of: {allowed}.")


def _hook_url(value: Any, label: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in {"http", "https"} and parts.hostname and len(value) <= 2000:
            return value.strip()
    raise ApplicationError(606, f"{label} must be an http or https URL.")


def _server_name_free(*, account_id: int, name: str, exclude_id: int | None = None):
    taken = Server.objects.filter(account_id=account_id, name=name)
    if exclude_id is not None:
        taken = taken.exclude(pk=exclude_id)
    if taken.exists():
        raise _name_taken(name)


def _name_taken(name: str) -> ApplicationError:
    return ApplicationError(603, f"A server named '{name}' already exists.")


def server_settings_update(*, server: Server, fields: dict[str, object]) -> Server:
    """Update the web-editable server settings (hook URLs, retention). Only the
    names in ``SERVER_EDITABLE_FIELDS`` are accepted; the model's constraints are
    validated first (``ApplicationError`` 300). Safe to call twice."""
    unknown = set(fields) - SERVER_EDITABLE_FIELDS
    if unknown:
        raise ApplicationError(300, f"Not editable: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(server, name, value)
    try:
        server.full_clean(exclude=["account"], validate_unique=False)
    except ValidationError as exc:
        raise ApplicationError(300, " ".join(exc.messages)) from exc
    server.save(update_fields=sorted(fields))
    return server


SERVER_EDITABLE_FIELDS = frozenset(
    {
        "bounce_hook_url",
        "delivery_hook_url",
        "open_hook_url",
        "click_hook_url",
        "inbound_hook_url",
        "retention_days",
    }
)
