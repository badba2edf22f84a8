"""Webhook configuration: Postmark's ``/webhooks`` create, update, delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from accounts.models import MessageStream, Server
from postmark_clone.errors import ApplicationError

from ..models import TRIGGER_OPTIONS, Webhook, default_triggers

MAX_WEBHOOKS_PER_STREAM = 10
# Framing headers we compute ourselves; a tenant value would corrupt the request.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade"}
)


@dataclass
class WebhookInput:
    """Parsed ``POST``/``PUT /webhooks`` body; ``None`` = not given."""

    url: str | None = None
    message_stream: str | None = None
    http_auth: dict[str, Any] | None = None
    http_headers: list[Any] | None = None
    triggers: dict[str, Any] | None = None
    id: Any = None
    status: Any = None


def _check_url(url: str | None) -> str:
    value = (url or "").strip()
    parts = urlsplit(value)
    if (
        not value
        or len(value) > 2000
        or parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() for ch in value)
    ):
        raise ApplicationError(1354, "The webhook Url is missing or invalid.")
    return value


def _check_auth(auth: Any) -> tuple[str, str]:
    if not isinstance(auth, dict):
        raise ApplicationError(1361, "HttpAuth must be an object.")
    username, password = auth.get("Username") or "", auth.get("Password") or ""
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApplicationError(1361, "HttpAuth Username and Password must be text.")
    if ":" in username or len(username) > 255 or len(password) > 255:
        raise ApplicationError(1361, "HttpAuth Username or Password is invalid.")
    return username, password


def _check_headers(headers: Any) -> list[dict[str, str]]:
    if not isinstance(headers, list):
        raise ApplicationError(1361, "HttpHeaders must be a list of {Name, Value}.")
    result = []
    for item in headers:
        name = item.get("Name") if isinstance(item, dict) else None
        value = item.get("Value", "") if isinstance(item, dict) else None
        # RFC 9110 §5.1: a field name is a token; no spaces, colons or controls.
        if (
            not isinstance(name, str)
            or not name
            or any(ch in name for ch in ' \t\r\n:()<>@,;\\"/[]?={}')
            or not name.isascii()
            or name.lower() in RESERVED_HEADERS
        ):
            raise ApplicationError(1358, f"Invalid HttpHeaders Name: {name!r}.")
        if value is None:
            value = ""
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ApplicationError(1361, f"Invalid value for header {name}.")
        result.append({"Name": name, "Value": value})
    return result


def _merge_triggers(current: dict[str, Any], given: Any) -> dict[str, Any]:
    """Apply a (partial) Postmark ``Triggers`` object: only given triggers and
    options change."""
    if not isinstance(given, dict):
        raise ApplicationError(1361, "Triggers must be an object.")
    merged = {
        name: dict(current.get(name, opts)) for name, opts in TRIGGER_OPTIONS.items()
    }
    for name, options in given.items():
        if name not in TRIGGER_OPTIONS:
            raise ApplicationError(1361, f"Unknown trigger '{name}'.")
        if options is None:
            continue
        if not isinstance(options, dict):
            raise ApplicationError(1361, f"Trigger '{name}' must be an object.")
        for option, value in options.items():
            if option not in TRIGGER_OPTIONS[name]:
                raise ApplicationError(
                    1361, f"Unknown option '{option}' for trigger '{name}'."
                )
            if not isinstance(value, bool):
                raise ApplicationError(
                    1361, f"Triggers.{name}.{option} must be true or false."
                )
            merged[name][option] = value
    return merged


def _check_read_only(data: WebhookInput) -> None:
    if data.status is not None:
        raise ApplicationError(1363, "Status cannot be set; it is read-only.")


def webhook_create(*, server: Server, data: WebhookInput) -> Webhook:
    """Create a webhook for one of the server's streams. Raises
    ``ApplicationError`` (1226 unknown stream, 1350 archived, 1351 inbound, 1354
    bad Url, 1356 ID given, 1358/1361 bad fields, 1359 too many, 1363 Status
    given). Not idempotent: each call creates a webhook."""
    if data.id is not None:
        raise ApplicationError(1356, "ID must not be given when creating a webhook.")
    _check_read_only(data)
    url = _check_url(data.url)
    stream_id = (data.message_stream or "outbound").lower()
    stream = MessageStream.objects.filter(server=server, stream_id=stream_id).first()
    if stream is None:
        raise ApplicationError(
            1226, "The message stream for the provided 'ID' was not found."
        )
    if stream.archived_at is not None:
        raise ApplicationError(1350, "Webhooks cannot be added to an archived stream.")
    if stream.stream_type == MessageStream.Type.INBOUND:
        raise ApplicationError(
            1351, "Webhooks cannot be added to an inbound stream; use InboundHookUrl."
        )
    username, password = _check_auth(data.http_auth) if data.http_auth else ("", "")
    headers = _check_headers(data.http_headers) if data.http_headers else []
    triggers = _merge_triggers(default_triggers(), data.triggers or {})
    with transaction.atomic():
        # Lock the stream row so two creates cannot both pass the limit.
        MessageStream.objects.select_for_update().filter(id=stream.id).first()
        if (
            Webhook.objects.filter(server=server, message_stream=stream_id).count()
            >= MAX_WEBHOOKS_PER_STREAM
        ):
            raise ApplicationError(
                1359,
                f"A stream can have at most {MAX_WEBHOOKS_PER_STREAM} webhooks.",
            )
        return Webhook.objects.create(
            server=server,
            message_stream=stream_id,
            url=url,
            http_auth_username=username,
            http_auth_password=password,
            http_headers=headers,
            triggers=triggers,
        )


def _get(server: Server, webhook_id: int) -> Webhook:
    hook = Webhook.objects.filter(server=server, id=webhook_id).first()
    if hook is None:
        raise ApplicationError(1352, "Webhook not found.")
    return hook


def webhook_update(*, server: Server, webhook_id: int, data: WebhookInput) -> Webhook:
    """Change a webhook's Url, HttpAuth, HttpHeaders (replaced) and Triggers
    (merged: only the given triggers/options change). ID and MessageStream cannot
    change (1357). 1352 when missing or another tenant's. Idempotent."""
    hook = _get(server, webhook_id)
    _check_read_only(data)
    if data.id is not None and str(data.id) != str(hook.id):
        raise ApplicationError(1357, "A webhook's ID cannot be changed.")
    if (
        data.message_stream is not None
        and data.message_stream.lower() != hook.message_stream
    ):
        raise ApplicationError(1357, "A webhook's MessageStream cannot be changed.")
    if data.url is not None:
        hook.url = _check_url(data.url)
    if data.http_auth is not None:
        hook.http_auth_username, hook.http_auth_password = _check_auth(data.http_auth)
    if data.http_headers is not None:
        hook.http_headers = _check_headers(data.http_headers)
    if data.triggers is not None:
        hook.triggers = _merge_triggers(hook.triggers, data.triggers)
    hook.save()
    return hook


def webhook_delete(*, server: Server, webhook_id: int) -> None:
    """Delete a webhook and its undelivered outbox rows. 1352 when missing or
    another tenant's (so a second call raises 1352)."""
    deleted, _ = Webhook.objects.filter(server=server, id=webhook_id).delete()
    if not deleted:
        raise ApplicationError(1352, "Webhook not found.")
