"""Writes for inbound mail: receive at the MX, POST to the InboundHookUrl with
Postmark's retry schedule, bypass and retry, inbound rules.

Lifecycle of an ``InboundMessage`` (statuses are Postmark's):

    received ─┬─ blocked (spam threshold / inbound rule) ── bypass ──┐
              ├─ processed (no InboundHookUrl)                       │
              └─ queued ◄────────────────────────────────────────────┘
                   │ POST: 200 → processed
                   │       403 → failed
                   │       other → scheduled (+1, 5, 10, 10, 10, 15, 30 min,
                   │               1, 2, 6 h), then failed
    failed ── retry ──► queued

``failed`` also records an ``InboundError`` bounce (TypeCode 100008).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Server
from messages.archive import archive_get, archive_key, archive_put
from postmark_clone.errors import ApplicationError
from webhooks.http import post_json, split_userinfo

from . import parsing
from .models import InboundMessage, InboundRule
from .selectors import inbound_domains, inbound_route

Status = InboundMessage.Status
PENDING = (Status.QUEUED, Status.SCHEDULED)
# How much of the hook's answer is kept on the row.
RESPONSE_LIMIT = 2000


# --- Receiving (the MX) ---------------------------------------------------------------


def inbound_rcpt_verdict(address: str) -> tuple[bool, str | None]:
    """``(handled, refusal)`` for ``RCPT TO:<address>`` at the MX.

    ``handled`` is False when the domain is not an inbound domain (the bounce
    MX decides then). For an inbound domain, ``refusal`` is ``None`` to accept
    or ``550 5.1.1`` (RFC 3463: bad destination mailbox) for an unknown
    InboundHash."""
    route = inbound_route(address)
    if not route.inbound:
        return False, None
    if route.server is None:
        clean = (address or "").strip().strip("<>")
        return (
            True,
            f"550 5.1.1 <{clean}>: Recipient address rejected: no such inbound address",
        )
    return True, None


def _senders(msg, mail_from: str) -> set[str]:
    """Lower-cased From address and envelope sender, and their domains: what
    inbound rules match against."""
    values = set()
    for address in (parseaddr(parsing.clean(msg.get("From", "")))[1], mail_from):
        address = (address or "").strip().lower()
        if "@" in address:
            values.add(address)
            values.add(address.rpartition("@")[2])
    return values


def _block_reason(*, server: Server, score: float | None, senders: set[str]) -> str:
    threshold = server.inbound_spam_threshold
    if threshold and score is not None and score > threshold:
        return (
            f"Spam score {score:g} is above the server's InboundSpamThreshold "
            f"of {threshold}."
        )
    rule = (
        InboundRule.objects.filter(server=server, rule__in=sorted(senders))
        .order_by("id")
        .values_list("rule", flat=True)
        .first()
        if senders
        else None
    )
    if rule:
        return f"Blocked by the inbound rule '{rule}'."
    return ""


@dataclass(frozen=True)
class Received:
    """What one DATA produced: the rows written (one per inbound recipient)."""

    messages: list[InboundMessage]


def inbound_receive(*, mail_from: str, rcpt_tos: list[str], raw: bytes) -> Received:
    """Record ``raw`` once per inbound envelope recipient and queue the hook POSTs.

    The raw message is archived first, once per server and outside any
    transaction (object storage is network I/O); then one transaction writes
    the rows, each ``blocked`` (spam score above the server's
    InboundSpamThreshold, or an inbound rule matching the From address, the
    envelope sender or their domains), ``processed`` (the server has no
    InboundHookUrl) or ``queued``. The MX answers 250 only after it commits,
    so nothing accepted is lost. Recipients whose server vanished since RCPT
    are skipped. Not idempotent: a message received twice is stored twice.
    """
    from .tasks import inbound_deliver  # tasks import services; avoid a cycle

    now = timezone.now()
    msg = parsing.parse_message(raw)
    score = parsing.spam_score(msg)
    senders = _senders(msg, mail_from)
    routed: list[tuple[str, Server]] = []
    for rcpt in rcpt_tos:
        route = inbound_route(rcpt)
        if route.server is not None:
            routed.append((rcpt.strip().strip("<>"), route.server))
    keys: dict[int, str] = {}
    for _rcpt, server in routed:
        if server.id not in keys:
            keys[server.id] = archive_put(
                key=archive_key(
                    server_id=server.id,
                    kind="inbound",
                    when=now,
                    name=str(uuid.uuid4()),
                ),
                data=raw,
            )
    rows = []
    for rcpt, server in routed:
        message_id = uuid.uuid4()
        payload = parsing.inbound_payload(
            raw=raw,
            message_id=str(message_id),
            original_recipient=rcpt,
            mail_from=mail_from,
            received_at=now,
            inbound_domains=inbound_domains(server),
            with_content=False,
        )
        reason = _block_reason(server=server, score=score, senders=senders)
        status = Status.QUEUED
        if reason:
            status = Status.BLOCKED
        elif not server.inbound_hook_url:
            status = Status.PROCESSED
        recipients = {rcpt.lower()}
        for item in payload["ToFull"] + payload["CcFull"]:
            recipients.add(item["Email"].lower())
        rows.append(
            InboundMessage(
                server=server,
                message_id=message_id,
                status=status,
                received_at=now,
                mail_from=parsing.clean(mail_from)[:320],
                original_recipient=rcpt[:320],
                mailbox_hash=payload["MailboxHash"][:320],
                from_email=payload["From"][:320],
                subject=payload["Subject"][:2000],
                recipients_text=",".join(sorted(recipients)),
                spam_score=score,
                summary=parsing.summary(payload),
                raw_key=keys[server.id],
                size=len(raw),
                blocked_reason=reason[:500],
                next_attempt_at=now if status == Status.QUEUED else None,
                processed_at=now if status == Status.PROCESSED else None,
                hook_response=(
                    "No InboundHookUrl is set: nothing was posted."
                    if status == Status.PROCESSED
                    else ""
                ),
            )
        )
    with transaction.atomic():
        InboundMessage.objects.bulk_create(rows)
        for row in rows:
            if row.status == Status.QUEUED:
                inbound_deliver.delay_on_commit(row.id)
    return Received(messages=rows)


# --- Posting to the InboundHookUrl ------------------------------------------------------


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
    from .tasks import inbound_deliver  # tasks import services; avoid a cycle

    now = timezone.now()
    lease = now + timedelta(seconds=settings.INBOUND_HOOK_LEASE_SECONDS)
    claimed = InboundMessage.objects.filter(
        id=inbound_id, status__in=PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=lease, attempts=F("attempts") + 1)
    if not claimed:
        return None
    message = InboundMessage.objects.select_related("server").get(id=inbound_id)
    attempt = message.attempts
    delays = list(settings.INBOUND_RETRY_DELAYS)
    retries_remaining = max(len(delays) - (attempt - 1), 0)
    raw = archive_get(key=message.raw_key)
    status_code: int | None = None
    retryable = False
    # The hook was removed since: nothing to deliver to, processed as on receipt.
    no_hook = not message.server.inbound_hook_url
    if no_hook:
        response = "No InboundHookUrl is set: nothing was posted."
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
    from .tasks import inbound_deliver  # tasks import services; avoid a cycle

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


# --- Bypass and retry -----------------------------------------------------------------


def _requeue(
    *, server: Server, message_id: str, from_status: str, code: int
) -> InboundMessage:
    from .selectors import inbound_get
    from .tasks import inbound_deliver  # tasks import services; avoid a cycle

    message = inbound_get(server=server, message_id=message_id)
    if message is None:
        raise ApplicationError(701, "This message was not found.")
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": Status.QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "failed_at": None,
    }
    if not server.inbound_hook_url:
        fields.update(
            status=Status.PROCESSED,
            next_attempt_at=None,
            processed_at=now,
            hook_response="No InboundHookUrl is set: nothing was posted.",
        )
    with transaction.atomic():
        updated = InboundMessage.objects.filter(
            id=message.id, status=from_status
        ).update(**fields)
        if not updated:
            verb = "bypassed" if from_status == Status.BLOCKED else "retried"
            raise ApplicationError(
                code,
                f"Only {from_status.lower()} messages can be {verb}; this one is "
                f"{message.status.lower()}.",
            )
        if fields["status"] == Status.QUEUED:
            inbound_deliver.delay_on_commit(message.id)
    message.refresh_from_db()
    return message


def inbound_bypass(*, server: Server, message_id: str) -> InboundMessage:
    """Let a blocked message through its server's rules: queue its hook POST
    (processed at once when there is no InboundHookUrl). 701 unknown, 702 not
    blocked. Safe to call twice: the second call gets 702."""
    return _requeue(
        server=server, message_id=message_id, from_status=Status.BLOCKED, code=702
    )


def inbound_retry(*, server: Server, message_id: str) -> InboundMessage:
    """Post a failed message to the hook again with a fresh retry schedule.
    701 unknown, 703 not failed. Safe to call twice: the second call gets 703."""
    return _requeue(
        server=server, message_id=message_id, from_status=Status.FAILED, code=703
    )


# --- Inbound rules --------------------------------------------------------------------

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


def inbound_rule_create(*, server: Server, rule: Any) -> InboundRule:
    """Block mail from an address (``spam@example.com``) or a whole domain
    (``example.com``). 809 no rule given, 813 neither an address nor a domain,
    810 already exists."""
    if rule is None or rule == "":
        raise ApplicationError(
            809, "Please provide a Rule (an email address or domain)."
        )
    if not isinstance(rule, str):
        raise ApplicationError(813, "The Rule must be an email address or a domain.")
    value = rule.strip().lower()
    local, at, domain = value.rpartition("@")
    valid = (
        bool(_LOCAL.match(local)) and bool(_DOMAIN.match(domain))
        if at
        else bool(_DOMAIN.match(value))
    )
    if not valid:
        raise ApplicationError(813, f"'{rule}' is not a valid email address or domain.")
    try:
        with transaction.atomic():
            return InboundRule.objects.create(server=server, rule=value)
    except IntegrityError as exc:
        raise ApplicationError(810, f"The rule '{value}' already exists.") from exc


def inbound_rule_delete(*, server: Server, rule_id: Any) -> int:
    """Delete one of the server's rules; 812 when it does not exist (or is
    another tenant's). Returns the deleted id."""
    try:
        value = int(rule_id)
    except (TypeError, ValueError):
        value = -1
    deleted, _ = InboundRule.objects.filter(server=server, id=value).delete()
    if not deleted:
        raise ApplicationError(812, "This inbound rule was not found.")
    return value


# --- Retention ---------------------------------------------------------------------------

# Postmark keeps blocked inbound messages 10 days; others follow the server's
# retention period (Server.retention_days, default 45).
BLOCKED_RETENTION_DAYS = 10


def inbound_purge(*, batch_size: int = 1000) -> int:
    """Delete inbound messages past their retention, and their raw messages.

    Per server: rows received before ``now - retention_days`` (blocked rows:
    ``min(retention_days, 10)`` days), never rows still waiting for a POST.
    Each batch deletes its archive objects first (outside any transaction; S3
    is network I/O), then its rows, so a crash leaves rows whose object is
    gone (deleted again next run), never orphaned objects. An object shared
    with a row that stays (one message to several recipients) is kept.
    Returns the number of rows deleted. Idempotent."""
    from django.db.models import Q

    from messages.archive import archive_delete_many

    now = timezone.now()
    total = 0
    servers = Server.objects.filter(
        id__in=InboundMessage.objects.values("server_id")
    ).values_list("id", "retention_days")
    for server_id, days in servers:
        expired = Q(received_at__lt=now - timedelta(days=days)) | Q(
            status=Status.BLOCKED,
            received_at__lt=now - timedelta(days=min(days, BLOCKED_RETENTION_DAYS)),
        )
        while True:
            batch = list(
                InboundMessage.objects.filter(expired, server_id=server_id)
                .exclude(status__in=PENDING)
                .values_list("id", "raw_key")[:batch_size]
            )
            if not batch:
                break
            ids = [row_id for row_id, _key in batch]
            keys = {key for _id, key in batch if key}
            kept = set(
                InboundMessage.objects.filter(raw_key__in=keys)
                .exclude(id__in=ids)
                .values_list("raw_key", flat=True)
            )
            archive_delete_many(keys=sorted(keys - kept))
            total += InboundMessage.objects.filter(id__in=ids).delete()[0]
    return total
