"""The webhook outbox: queue events (``webhook_emit``), POST them signed, retry,
dead-letter, replay and purge."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Server

from .. import signature
from ..http import post_json, split_userinfo
from ..models import Webhook, WebhookDelivery

CONTENT_TRIGGERS = ("Bounce", "SpamComplaint")


def webhook_emit(
    *, server: Server, message_stream: str, record_type: str, payload: dict[str, Any]
) -> None:
    """Queue ``payload`` (Postmark's JSON for ``record_type``) for every webhook of
    the stream whose trigger is enabled. Call inside the transaction that records
    the event: outbox rows commit with it and are sent after commit.

    The payload's own ``RecordType`` wins over ``record_type`` (a spam complaint
    goes to the SpamComplaint trigger). ``Content`` is dropped for webhooks
    without ``IncludeContent``; SMTP API error bounces go only to servers with
    ``EnableSmtpApiErrorHooks``; repeat opens (``FirstOpen: false``) skip
    webhooks whose Open trigger has ``PostFirstOpenOnly``. Not idempotent: each call queues new rows.
    """
    from ..tasks import webhook_deliver  # tasks import services; avoid a cycle

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
        if (
            record_type == "Open"
            and not payload.get("FirstOpen", True)
            and hook.trigger_option("Open", "PostFirstOpenOnly")
        ):
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
    ours = {
        "Content-Type": "application/json",
        "User-Agent": "Postmark-compatible webhooks",
        "X-PM-Retries-Remaining": str(retries_remaining),
        "X-PM-Webhook-Trace-Id": str(delivery.trace_id),
        signature.HEADER: signature.sign(
            secret=hook.signing_secret, body=body, timestamp=timestamp
        ),
    }
    # Tenant headers verbatim, except that they cannot replace ours (any case).
    taken = {name.lower() for name in ours}
    headers = {
        item["Name"]: item["Value"]
        for item in hook.http_headers or []
        if item["Name"].lower() not in taken
    }
    headers.update(ours)
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
    from ..tasks import webhook_deliver  # tasks import services; avoid a cycle

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
    from ..tasks import webhook_deliver  # tasks import services; avoid a cycle

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
    from ..tasks import webhook_deliver  # tasks import services; avoid a cycle

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
