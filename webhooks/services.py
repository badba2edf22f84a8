"""Writes for tenant webhooks (Postmark's Delivery/Bounce/SpamComplaint hooks):
configuration, the outbox (``webhook_emit``), signed delivery and replay."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import MessageStream, Server
from postmark_clone.errors import ApplicationError

from . import signature
from .http import post_json, split_userinfo
from .models import TRIGGER_OPTIONS, Webhook, WebhookDelivery, default_triggers

MAX_WEBHOOKS_PER_STREAM = 10
CONTENT_TRIGGERS = ("Bounce", "SpamComplaint")
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


def webhook_emit(
    *, server: Server, message_stream: str, record_type: str, payload: dict[str, Any]
) -> None:
    """Queue ``payload`` (Postmark's JSON for ``record_type``) for every webhook of
    the stream whose trigger is enabled. Call inside the transaction that records
    the event: outbox rows commit with it and are sent after commit.

    The payload's own ``RecordType`` wins over ``record_type`` (a spam complaint
    goes to the SpamComplaint trigger). ``Content`` is dropped for webhooks
    without ``IncludeContent``; SMTP API error bounces go only to servers with
    ``EnableSmtpApiErrorHooks``. Not idempotent: each call queues new rows.
    """
    from .tasks import webhook_deliver  # tasks import services; avoid a cycle

    record_type = payload.get("RecordType") or record_type
    if (
        record_type == "Bounce"
        and payload.get("Type") == "SMTPApiError"
        and not server.enable_smtp_api_error_hooks
    ):
        return
    now = timezone.now()
    rows = []
    for hook in Webhook.objects.filter(
        server=server, message_stream=(message_stream or "outbound").lower()
    ):
        if not hook.trigger_enabled(record_type):
            continue
        body = payload
        if record_type in CONTENT_TRIGGERS and not hook.trigger_option(
            record_type, "IncludeContent"
        ):
            body = {k: v for k, v in payload.items() if k != "Content"}
        rows.append(
            WebhookDelivery(
                webhook=hook,
                record_type=record_type,
                body=WebhookDelivery.encode(body),
                next_attempt_at=now,
            )
        )
    if not rows:
        return
    WebhookDelivery.objects.bulk_create(rows)
    for row in rows:
        webhook_deliver.delay_on_commit(row.id)


def _basic_auth(hook: Webhook) -> tuple[str, tuple[str, str] | None]:
    url, userinfo = split_userinfo(hook.url)
    if hook.http_auth_username or hook.http_auth_password:
        return url, (hook.http_auth_username, hook.http_auth_password)
    return url, userinfo


def webhook_request(
    *, delivery: WebhookDelivery, retries_remaining: int, timestamp: int
) -> tuple[str, bytes, dict[str, str], tuple[str, str] | None]:
    """``(url, body, headers, basic_auth)`` of one POST. Pure given its inputs."""
    hook = delivery.webhook
    url, auth = _basic_auth(hook)
    body = delivery.body.encode()
    headers = {item["Name"]: item["Value"] for item in hook.http_headers or []}
    # Ours come last so a tenant header cannot override them.
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": "Postmark-compatible webhooks",
            "X-PM-Retries-Remaining": str(retries_remaining),
            "X-PM-Webhook-Trace-Id": str(delivery.trace_id),
            signature.HEADER: signature.sign(
                secret=hook.signing_secret, body=body, timestamp=timestamp
            ),
        }
    )
    return url, body, headers, auth


def webhook_delivery_attempt(*, delivery_id: int) -> str | None:
    """Try to POST one due outbox row once; returns its new status, or ``None``
    when it was not due or another worker holds it.

    Claim (a lease on ``next_attempt_at`` by conditional UPDATE), POST outside
    any transaction, then record: 2xx delivered; 5xx/408/429/network errors are
    retried after ``WEBHOOK_RETRY_DELAYS[attempt - 1]`` (+ up to 10 % jitter)
    until the delays run out, then dead; other failures dead at once. Safe to
    call twice and from many workers: only one wins the claim.
    """
    from .tasks import webhook_deliver  # tasks import services; avoid a cycle

    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
    claimed = WebhookDelivery.objects.filter(
        id=delivery_id,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
    ).update(next_attempt_at=lease, attempts=F("attempts") + 1)
    if not claimed:
        return None
    delivery = (
        WebhookDelivery.objects.select_related("webhook").filter(id=delivery_id).first()
    )
    if delivery is None:  # the webhook was deleted meanwhile
        return None
    delays = list(settings.WEBHOOK_RETRY_DELAYS)
    attempt = delivery.attempts
    retries_remaining = max(len(delays) - (attempt - 1), 0)
    url, body, headers, auth = webhook_request(
        delivery=delivery,
        retries_remaining=retries_remaining,
        timestamp=int(time.time()),
    )
    outcome = post_json(
        url=url,
        body=body,
        headers=headers,
        auth=auth,
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
    )
    done = timezone.now()
    fields: dict[str, Any] = {
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    delay: float | None = None
    if outcome.ok:
        fields.update(status=WebhookDelivery.Status.DELIVERED, delivered_at=done)
    elif outcome.retryable and retries_remaining > 0:
        base = delays[attempt - 1]
        delay = base + random.uniform(0, base * 0.1)  # jitter spreads retry storms
        fields["next_attempt_at"] = done + timedelta(seconds=delay)
    else:
        fields.update(status=WebhookDelivery.Status.DEAD, dead_at=done)
    # attempts= guard: if our lease expired and someone re-claimed, they record.
    WebhookDelivery.objects.filter(
        id=delivery_id, status=WebhookDelivery.Status.PENDING, attempts=attempt
    ).update(**fields)
    if delay is not None and delay <= settings.WEBHOOK_ETA_MAX_SECONDS:
        # Fast path only; the sweeper sends it anyway if this message is lost.
        webhook_deliver.apply_async_on_commit((delivery_id,), countdown=delay)
    return fields.get("status", WebhookDelivery.Status.PENDING)


def webhook_delivery_replay(
    *, delivery_id: int, server: Server | None = None
) -> WebhookDelivery | None:
    """Send a dead outbox row again with a fresh retry schedule (same trace id).
    ``server`` limits it to one tenant (``None``: operator). Returns the row, or
    ``None`` when missing. Safe to call twice: a pending or delivered row is
    left alone."""
    from .tasks import webhook_deliver  # tasks import services; avoid a cycle

    qs = WebhookDelivery.objects.filter(id=delivery_id)
    if server is not None:
        qs = qs.filter(webhook__server=server)
    with transaction.atomic():
        revived = qs.filter(status=WebhookDelivery.Status.DEAD).update(
            status=WebhookDelivery.Status.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            dead_at=None,
        )
        if revived:
            webhook_deliver.delay_on_commit(delivery_id)
    return qs.first()


def webhook_deliveries_enqueue_due(*, limit: int = 1000) -> int:
    """Queue a delivery task for up to ``limit`` due pending rows (the sweeper).
    Duplicates are harmless: the claim lets one worker through. Returns the
    number queued."""
    from .tasks import webhook_deliver  # tasks import services; avoid a cycle

    ids = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING,
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for delivery_id in ids:
        webhook_deliver.delay(delivery_id)
    return len(ids)


def webhook_deliveries_purge(*, batch_size: int = 5000) -> int:
    """Delete delivered and dead outbox rows created more than
    ``WEBHOOK_DELIVERY_RETENTION_DAYS`` ago, in batches (short transactions).
    Pending rows are never purged. Returns the number deleted. Idempotent."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    total = 0
    while True:
        ids = list(
            WebhookDelivery.objects.filter(created_at__lt=cutoff)
            .exclude(status=WebhookDelivery.Status.PENDING)
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return total
        total += WebhookDelivery.objects.filter(id__in=ids).delete()[0]
