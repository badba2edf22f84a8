"""POSTing inbound messages to the server's InboundHookUrl, with retries."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from messages.archive import archive_get
from webhooks.http import post_json, split_userinfo

from .. import parsing
from ..models import InboundMessage
from ..selectors import inbound_domains
from .common import NO_HOOK, PENDING, RESPONSE_LIMIT, Status


def inbound_hook_request(
    *, message: InboundMessage, raw: bytes, retries_remaining: int
) -> tuple[str, bytes, dict[str, str], tuple[str, str] | None]:
    """``(url, body, headers, basic_auth)`` of one POST; credentials in the
    URL's userinfo become HTTP Basic auth (as Postmark does). Pure."""
    server = message.server
    payload = parsing.inbound_payload(
        raw=raw,
        message_id=str(message.message_id),
        original_recipient=message.original_recipient,
        mail_from=message.mail_from,
        received_at=message.received_at,
        inbound_domains=inbound_domains(server),
        tag=message.tag,
        raw_email=server.raw_email_enabled,
    )
    url, auth = split_userinfo(server.inbound_hook_url)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Postmark-compatible inbound",
        "X-PM-Retries-Remaining": str(retries_remaining),
    }
    return url, json.dumps(payload, ensure_ascii=False).encode(), headers, auth


def inbound_deliver_attempt(*, inbound_id: int) -> str | None:
    """POST one due inbound message to its server's InboundHookUrl once.

    Claims the row by a conditional UPDATE (status queued/scheduled, due now →
    ``next_attempt_at`` leased ``INBOUND_HOOK_LEASE_SECONDS`` ahead, attempts
    + 1), POSTs outside any transaction, then records the outcome guarded by
    the attempt number: exactly 200 → processed; 403 → failed at once; any
    other answer or a network error → scheduled after
    ``INBOUND_RETRY_DELAYS[attempt - 1]`` until they run out, then failed. A
    URL that can never work (refused non-public host, malformed) fails at once.
    Failing records one InboundError bounce in the same transaction. Returns
    the new status, or ``None`` when not due or held by another worker. Safe
    to call twice and from many workers.
    """
    from ..tasks import inbound_deliver  # tasks import services; avoid a cycle

    now = timezone.now()
    lease = now + timedelta(seconds=settings.INBOUND_HOOK_LEASE_SECONDS)
    claimed = InboundMessage.objects.filter(
        id=inbound_id, status__in=PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=lease, attempts=F("attempts") + 1)
    if not claimed:
        return None
    message = (
        InboundMessage.objects.select_related("server").filter(id=inbound_id).first()
    )
    if message is None:  # its server was deleted meanwhile
        return None
    attempt = message.attempts
    delays = list(settings.INBOUND_RETRY_DELAYS)
    retries_remaining = max(len(delays) - (attempt - 1), 0)
    raw = archive_get(key=message.raw_key)
    status_code: int | None = None
    retryable = False
    # The hook was removed since: nothing to deliver to, processed as on receipt.
    no_hook = not message.server.inbound_hook_url
    if no_hook:
        response = NO_HOOK
    elif raw is None:
        response = "The raw message is no longer in the archive."
    else:
        url, body, headers, auth = inbound_hook_request(
            message=message, raw=raw, retries_remaining=retries_remaining
        )
        outcome = post_json(
            url=url,
            body=body,
            headers=headers,
            auth=auth,
            timeout=settings.INBOUND_HOOK_TIMEOUT_SECONDS,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
        )
        status_code = outcome.status_code
        response = outcome.error or f"HTTP {status_code}"
        # Postmark retries every non-200 answer except 403, and network errors;
        # a request that cannot be made at all is not worth ten more tries.
        retryable = status_code not in (200, 403) and (
            status_code is not None or outcome.retryable
        )
    done = timezone.now()
    fields: dict[str, Any] = {
        "last_status_code": status_code,
        "hook_response": response[:RESPONSE_LIMIT],
    }
    delay: float | None = None
    if status_code == 200 or no_hook:
        fields.update(status=Status.PROCESSED, processed_at=done, next_attempt_at=None)
    elif retryable and retries_remaining > 0:
        delay = float(delays[attempt - 1])
        fields.update(
            status=Status.SCHEDULED, next_attempt_at=done + timedelta(seconds=delay)
        )
    else:
        fields.update(status=Status.FAILED, failed_at=done, next_attempt_at=None)
    with transaction.atomic():
        # attempts= guard: if our lease expired and someone re-claimed, they record.
        updated = InboundMessage.objects.filter(
            id=inbound_id, status__in=PENDING, attempts=attempt
        ).update(**fields)
        if updated and fields["status"] == Status.FAILED:
            _record_inbound_error(message=message, details=response, when=done)
        if updated and delay is not None and delay <= settings.WEBHOOK_ETA_MAX_SECONDS:
            # Fast path only; the sweeper sends it anyway if this message is lost.
            inbound_deliver.apply_async_on_commit((inbound_id,), countdown=delay)
    return str(fields["status"]) if updated else None


def _record_inbound_error(*, message: InboundMessage, details: str, when) -> None:
    """The ``InboundError`` bounce Postmark records when a hook gives up."""
    from bounces.models import Bounce
    from bounces.services import bounce_record  # bounces import messages, not us

    bounce = bounce_record(
        server=message.server,
        message=None,
        email=message.original_recipient,
        bounce_type="InboundError",
        details=details[:RESPONSE_LIMIT],
        origin="inbound",
        message_stream=message.message_stream,
        dump_key=message.raw_key,
        bounced_at=when,
        from_header=str(message.summary.get("From", "")),
        subject=message.subject,
        tag=message.tag,
    )
    # The bounce's MessageID is the inbound message's (Postmark's API shows it).
    Bounce.objects.filter(id=bounce.id).update(message_uuid=message.message_id)


def inbound_deliveries_enqueue_due(*, limit: int = 1000) -> int:
    """Queue a delivery task for up to ``limit`` due queued/scheduled messages
    (the sweeper). Stale claims are due again once their lease has passed, so
    a worker that died mid-POST is covered too. Duplicates are harmless: the
    claim lets one worker through. Returns the number queued."""
    from ..tasks import inbound_deliver  # tasks import services; avoid a cycle

    ids = list(
        InboundMessage.objects.filter(
            status__in=PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for inbound_id in ids:
        inbound_deliver.delay(inbound_id)
    return len(ids)
