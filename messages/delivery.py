"""Delivery services: claim due recipients, sign, send, record outcomes.

PostgreSQL is the queue of record. A recipient row moves
``queued → sending`` when a worker claims it (a short transaction with
``FOR UPDATE SKIP LOCKED``), then, after the network I/O and outside any
transaction, to ``delivered`` / ``bounced`` or back to ``queued`` with a
``next_attempt_at`` (Transient, or every route down). Celery tasks are only the
fast path: ``delivery_sweep`` re-queues claims older than the lease and
re-enqueues due rows no task is working on.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import Domain, MessageStream, Server
from bounces.services import bounce_record
from tracking.rewrite import personalize
from tracking.services import tracking_delivered_record
from webhooks.selectors import webhook_streams
from webhooks.services import webhook_emit

from . import metrics
from .archive import archive_get
from .dkim import dkim_sign
from .models import Message, MessageEvent, Recipient
from .pool import RouteTracker
from .sending import Outcome, Transaction, send_all
from .unsubscribe import UnsubscribeTarget, message_personalize
from .verp import verp_encode

logger = logging.getLogger("mail.delivery")
_BARE_LF = re.compile(rb"\r?\n")


@dataclass
class DeliveryReport:
    """What one ``delivery_run`` did, by outcome."""

    claimed: int = 0
    delivered: int = 0
    transient: int = 0
    bounced: int = 0
    deferred: int = 0
    lost: int = 0  # claims taken over by someone else before we recorded


def recipients_claim(
    *, message_ids: list[int] | None, limit: int, now: datetime
) -> list[int]:
    """Claim up to ``limit`` due queued recipients (of ``message_ids`` if given):
    ``status=sending, claimed_at=now``. Returns the claimed ids.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent workers take
    disjoint rows without waiting. SQLite has no row locks; its IMMEDIATE
    transactions (settings) serialise writers, so select-then-update inside one
    transaction is equally exclusive. Safe to call concurrently and twice.
    """
    with transaction.atomic():
        qs = Recipient.objects.filter(
            status=Recipient.Status.QUEUED, next_attempt_at__lte=now
        )
        if message_ids is not None:
            qs = qs.filter(message_id__in=message_ids)
        qs = qs.order_by("next_attempt_at")
        if connection.vendor == "postgresql":
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        ids = list(qs.values_list("id", flat=True)[:limit])
        if ids:
            Recipient.objects.filter(id__in=ids).update(
                status=Recipient.Status.SENDING, claimed_at=now
            )
    return ids


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` tries: exponential
    backoff with ±25 % jitter so a burst of deferrals does not return at once."""
    base = settings.DELIVERY_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return min(base, settings.DELIVERY_RETRY_MAX_SECONDS) * random.uniform(0.75, 1.25)


class _Signer:
    """Signs each message once with its From domain's key (cached per batch)."""

    def __init__(self) -> None:
        self._domains: dict[int, list[Domain]] = {}

    def domain_for(self, message: Message) -> Domain | None:
        account_id = message.server.account_id
        if account_id not in self._domains:
            self._domains[account_id] = list(
                Domain.objects.filter(account_id=account_id)
            )
        host = message.from_email.rpartition("@")[2].lower()
        matches = [
            d
            for d in self._domains[account_id]
            if host == d.name or host.endswith("." + d.name)
        ]
        return max(matches, key=lambda d: len(d.name)) if matches else None

    def prepare(self, message: Message) -> tuple[bytes | None, str]:
        """(signed MIME or None if the content is gone, return-path domain)."""
        raw, return_path = self.load(message)
        if raw is None:
            return None, return_path
        return self.sign(message, raw), return_path

    def load(self, message: Message) -> tuple[bytes | None, str]:
        """(unsigned CRLF MIME or None if the content is gone, return-path domain)."""
        domain = self.domain_for(message)
        return_path = (
            domain.return_path_domain if domain and domain.return_path_domain else ""
        ) or settings.DEFAULT_RETURN_PATH_DOMAIN
        raw = archive_get(key=message.archive_key)
        if raw is None:
            return None, return_path
        if raw.count(b"\n") != raw.count(b"\r\n"):
            # SMTP wants CRLF (RFC 5321 §2.3.8); fix bare LFs before signing so
            # the signature covers the bytes actually sent.
            raw = _BARE_LF.sub(b"\r\n", raw)
        return raw, return_path

    def sign(self, message: Message, raw: bytes) -> bytes:
        domain = self.domain_for(message)
        if domain is None or not domain.dkim_private_key:
            logger.warning("no DKIM key for %s; sending unsigned", message.from_email)
            return raw
        return dkim_sign(
            message=raw,
            domain=domain.name,
            selector=domain.dkim_selector,
            private_pem=domain.dkim_private_key,
        )


class _UnsubscribeStreams:
    """Which messages get per-recipient unsubscribe headers and links: those of
    Broadcasts streams with Postmark handling (one query per stream per batch)."""

    def __init__(self) -> None:
        self._streams: dict[tuple[int, str], bool] = {}

    def wanted(self, message: Message) -> bool:
        key = (message.server_id, message.message_stream)
        if key not in self._streams:
            stream = MessageStream.objects.filter(
                server_id=key[0], stream_id=key[1]
            ).first()
            self._streams[key] = stream is not None and stream.adds_unsubscribe
        return self._streams[key]


def _unsubscribe_copy(message: Message, raw: bytes, email: str) -> bytes:
    """One recipient's copy of a broadcast message (messages.unsubscribe)."""
    return message_personalize(
        raw,
        target=UnsubscribeTarget(
            server_id=message.server_id,
            message_stream=message.message_stream,
            email=email.lower(),
            message_id=str(message.message_id),
        ),
    )


def delivery_run(
    *, message_ids: list[int] | None = None, max_batches: int | None = None
) -> DeliveryReport:
    """Deliver the due queued recipients of ``message_ids`` (or any due ones).

    Claims batches of ``DELIVERY_BATCH_SIZE`` until nothing is left to claim
    (or ``max_batches``). A batch not filled by ``message_ids`` is topped up
    with any other due recipients: under load, when tasks queue up behind each
    other, one task then carries many messages over one connection and one
    commit per chunk instead of one each (the later tasks find their rows taken
    and return at once). Returns quietly when another worker holds the rows.
    Safe to call twice and concurrently: claims are exclusive, and outcomes are
    recorded only for rows this call still holds.
    """
    report = DeliveryReport()
    batches = 0
    while max_batches is None or batches < max_batches:
        now = timezone.now()
        size = settings.DELIVERY_BATCH_SIZE
        ids = recipients_claim(message_ids=message_ids, limit=size, now=now)
        if message_ids is not None and len(ids) < size:
            ids += recipients_claim(message_ids=None, limit=size - len(ids), now=now)
        if not ids:
            break
        batches += 1
        report.claimed += len(ids)
        _deliver_claimed(ids=ids, claimed_at=now, report=report)
    return report


def _deliver_claimed(
    *, ids: list[int], claimed_at: datetime, report: DeliveryReport
) -> None:
    rows = list(
        Recipient.objects.filter(
            id__in=ids, status=Recipient.Status.SENDING, claimed_at=claimed_at
        ).select_related("message__server")
    )
    by_message: dict[int, list[Recipient]] = {}
    for row in rows:
        by_message.setdefault(row.message_id, []).append(row)
    recorder = _Recorder(rows=rows, claimed_at=claimed_at, report=report)
    signer = _Signer()
    unsubscribes = _UnsubscribeStreams()
    txs: list[Transaction] = []
    for rcpts in by_message.values():
        message = rcpts[0].message
        if (
            message.sandboxed
            or message.server.delivery_type == Server.DeliveryType.SANDBOX
        ):
            # Sandbox servers deliver nothing and report Delivered (Postmark §7).
            for r in rcpts:
                recorder.add(
                    Outcome(
                        key=r.id,
                        kind="delivered",
                        reply="Sandbox: not delivered",
                        route="sandbox",
                    )
                )
            continue
        unsubscribe = unsubscribes.wanted(message)
        # Tracking rewrites each recipient's copy (tokens name the recipient), as
        # do broadcast unsubscribe links: such messages are signed per recipient.
        # The archive is untouched.
        tracked = message.tracked
        per_recipient = tracked or unsubscribe
        if per_recipient:
            data, return_path = signer.load(message)
        else:
            data, return_path = signer.prepare(message)
        if data is None:
            for r in rcpts:
                recorder.add(
                    Outcome(
                        key=r.id,
                        kind="bounced",
                        reply="message content no longer available",
                        permanent_reason="content purged",
                    )
                )
            continue
        for r in rcpts:
            copy = data
            if tracked:
                personal = personalize(
                    copy,
                    recipient_id=r.id,
                    track_opens=message.track_opens,
                    track_links=message.track_links,
                )
                recorder.tracked_links[r.id] = personal.links
                copy = personal.data
            if unsubscribe:
                # After tracking, so the unsubscribe link is never a tracked one.
                copy = _unsubscribe_copy(message, copy, r.email)
            if per_recipient:
                copy = signer.sign(message, copy)
            txs.append(
                Transaction(
                    key=r.id,
                    message_id=str(message.message_id),
                    mail_from=verp_encode(recipient_id=r.id, domain=return_path),
                    rcpt=r.email,
                    data=copy,
                )
            )
    if txs:
        send_all(txs, recorder.add, RouteTracker())
    recorder.flush()


class _Recorder:
    """Collects outcomes and commits them every ``DELIVERY_RECORD_EVERY``.

    Committing in small chunks bounds what a crash can repeat: a worker killed
    mid-batch re-sends at most the outcomes it had not committed yet.
    """

    def __init__(
        self, *, rows: list[Recipient], claimed_at: datetime, report: DeliveryReport
    ) -> None:
        self.rows = {r.id: r for r in rows}
        self.claimed_at = claimed_at
        self.report = report
        self.pending: list[Outcome] = []
        # Recipient id -> links rewritten in its tracked copy.
        self.tracked_links: dict[int, int] = {}

    def add(self, outcome: Outcome) -> None:
        self.pending.append(outcome)
        if len(self.pending) >= settings.DELIVERY_RECORD_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            outcomes, self.pending = self.pending, []
            outcomes_record(
                outcomes=outcomes,
                rows=self.rows,
                claimed_at=self.claimed_at,
                report=self.report,
                tracked_links=self.tracked_links,
            )


def outcomes_record(
    *,
    outcomes: list[Outcome],
    rows: dict[int, Recipient],
    claimed_at: datetime,
    report: DeliveryReport,
    tracked_links: dict[int, int] | None = None,
) -> None:
    """Record delivery outcomes in one transaction: recipient rows, Delivered /
    Transient events, Delivery webhooks, bounces (through ``bounce_record``),
    tracking counters for delivered tracked copies (``tracked_links``: recipient
    id -> links rewritten), and ``Message.status = Sent`` once every recipient
    is final.

    Only rows still claimed by ``claimed_at`` are written (the UPDATE is
    conditional): if the lease expired and another worker took a row over, its
    outcome is theirs to record. Safe to call twice: the second call finds no
    row still claimed.
    """
    now = timezone.now()
    window = timedelta(hours=settings.DELIVERY_RETRY_WINDOW_HOURS)
    planned: list[tuple[Outcome, Recipient, str, dict[str, str]]] = []
    for outcome in outcomes:
        row = rows[outcome.key]
        message = row.message
        row.claimed_at = None
        row.last_reply = outcome.reply[:2000]
        row.route = outcome.route[:255]
        details = {
            "DeliveryMessage": outcome.reply,
            "DestinationServer": outcome.destination,
            "DestinationIP": outcome.ip,
        }
        kind = outcome.kind
        if kind != "deferred":
            row.attempts += 1
        if kind == "delivered":
            row.status = Recipient.Status.DELIVERED
            row.finished_at = now
        elif kind == "transient":
            deadline = message.received_at + window
            if now >= deadline:
                kind = "soft-bounce"  # retries exhausted: give up
            else:
                row.status = Recipient.Status.QUEUED
                row.next_attempt_at = min(
                    now + timedelta(seconds=retry_delay(row.attempts)), deadline
                )
                details["NextAttemptAt"] = row.next_attempt_at.isoformat()
        elif kind == "deferred":  # no usable route: not the recipient's fault
            row.status = Recipient.Status.QUEUED
            row.next_attempt_at = datetime.fromtimestamp(
                outcome.retry_at, tz=now.tzinfo
            )
        # bounced / soft-bounce rows stay "sending" here; bounce_record finishes them.
        planned.append((outcome, row, kind, details))

    hooked = webhook_streams(
        server_ids={row.message.server_id for _o, row, _k, _d in planned}
    )
    with transaction.atomic():
        held = _recipients_update([row for _o, row, _k, _d in planned], claimed_at)
        events: list[MessageEvent] = []
        tracked: list[tuple[Message, int]] = []
        for outcome, row, kind, details in planned:
            if row.id not in held:
                report.lost += 1
                continue
            message = row.message
            metrics.ATTEMPTS.labels(
                kind if kind != "soft-bounce" else "transient"
            ).inc()
            if kind == "delivered":
                report.delivered += 1
                if tracked_links and row.id in tracked_links:
                    tracked.append((message, tracked_links[row.id]))
                events.append(
                    _event(message, row, MessageEvent.Type.DELIVERED, details, now)
                )
                if (message.server_id, message.message_stream) in hooked:
                    webhook_emit(
                        server=message.server,
                        message_stream=message.message_stream,
                        record_type="Delivery",
                        payload=_delivery_payload(message, row, outcome, now),
                    )
                if outcome.route != "sandbox":
                    metrics.ACCEPT_TO_DELIVERED.observe(
                        (now - message.received_at).total_seconds()
                    )
            elif kind == "transient":
                report.transient += 1
                events.append(
                    _event(message, row, MessageEvent.Type.TRANSIENT, details, now)
                )
            elif kind in ("bounced", "soft-bounce"):
                report.bounced += 1
                bounce_record(
                    server=message.server,
                    message=message,
                    email=row.email,
                    bounce_type="SoftBounce" if kind == "soft-bounce" else None,
                    smtp_status=str(outcome.code or ""),
                    diagnostic=outcome.reply,
                    details=outcome.reply,
                )
            else:
                report.deferred += 1
        MessageEvent.objects.bulk_create(events)
        if tracked:
            tracking_delivered_record(items=tracked)
        _messages_finish(
            {row.message_id for _o, row, _k, _d in planned if row.id in held}
        )


_UPDATE_FIELDS = [
    "status",
    "claimed_at",
    "last_reply",
    "route",
    "attempts",
    "finished_at",
    "next_attempt_at",
]


def _recipients_update(rows: list[Recipient], claimed_at: datetime) -> set[int]:
    """Write the outcome fields of the rows still claimed at ``claimed_at``, in
    one statement; returns their ids.

    Django's ``bulk_update`` builds a CASE per field and row and was the
    slowest step of a batch; on PostgreSQL one conditional
    ``UPDATE … FROM (VALUES …) … RETURNING`` writes and checks the claim at once.
    """
    if not rows:
        return set()
    ids = [r.id for r in rows]
    if connection.vendor != "postgresql":
        held = set(
            Recipient.objects.filter(
                id__in=ids, status=Recipient.Status.SENDING, claimed_at=claimed_at
            ).values_list("id", flat=True)
        )
        Recipient.objects.bulk_update([r for r in rows if r.id in held], _UPDATE_FIELDS)
        return held
    table = Recipient._meta.db_table
    row_sql = (
        "(%s::bigint, %s, %s::timestamptz, %s, %s, %s::int, %s::timestamptz,"
        " %s::timestamptz)"
    )
    params: list[object] = []
    for r in rows:
        params += [
            r.id,
            r.status,
            r.claimed_at,
            r.last_reply,
            r.route,
            r.attempts,
            r.finished_at,
            r.next_attempt_at,
        ]
    params += [Recipient.Status.SENDING, claimed_at]
    sets = ", ".join(f"{f} = v.{f}" for f in _UPDATE_FIELDS)
    columns = ", ".join(["id", *_UPDATE_FIELDS])
    sql = (
        f"UPDATE {table} AS r SET {sets} "  # noqa: S608 - fixed identifiers only
        f"FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v({columns}) "
        "WHERE r.id = v.id AND r.status = %s AND r.claimed_at = %s RETURNING r.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _event(
    message: Message, row: Recipient, kind: str, details: dict, now: datetime
) -> MessageEvent:
    return MessageEvent(
        message=message,
        recipient=row.email,
        type=kind,
        details=dict(details),
        created_at=now,
    )


def _delivery_payload(
    message: Message, row: Recipient, outcome: Outcome, now: datetime
) -> dict[str, object]:
    """Postmark's Delivery webhook (§7.2)."""
    return {
        "RecordType": "Delivery",
        "ServerID": message.server_id,
        "MessageStream": message.message_stream,
        "MessageID": str(message.message_id),
        "Recipient": row.email,
        "Tag": message.tag,
        "DeliveredAt": now.isoformat(),
        "Details": outcome.reply,
        "Metadata": message.metadata or {},
    }


def _messages_finish(message_ids: Iterable[int]) -> None:
    """``Queued → Sent`` for messages whose recipients are all final."""
    unfinished = Recipient.objects.filter(message=OuterRef("pk")).exclude(
        status__in=Recipient.FINAL_STATUSES
    )
    Message.objects.filter(
        id__in=list(message_ids), status=Message.Status.QUEUED
    ).exclude(Exists(unfinished)).update(status=Message.Status.SENT)


@dataclass
class SweepReport:
    stale_reclaimed: int
    messages_enqueued: int


def delivery_sweep(*, now: datetime | None = None, limit: int = 20_000) -> SweepReport:
    """Put lost work back on the fast path; PostgreSQL stays the truth.

    1. Claims older than ``DELIVERY_LEASE_SECONDS`` (a worker died mid-batch)
       go back to ``queued``.
    2. Due queued recipients no task is working on are enqueued again: retries
       (``attempts > 0``; we never schedule far-future tasks, so none is in
       flight) as soon as they are due, first attempts once they have waited
       ``DELIVERY_SWEEP_GRACE_SECONDS`` (their on-commit task was lost: broker
       restart, FLUSHALL).

    Safe to call twice and concurrently: an extra task finds nothing to claim.
    """
    from .tasks import deliver_messages  # tasks import services

    now = now or timezone.now()
    lease = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    grace = timedelta(seconds=settings.DELIVERY_SWEEP_GRACE_SECONDS)
    stale_ids = list(
        Recipient.objects.filter(
            status=Recipient.Status.SENDING, claimed_at__lt=now - lease
        ).values_list("message_id", flat=True)[:limit]
    )
    stale = Recipient.objects.filter(
        status=Recipient.Status.SENDING, claimed_at__lt=now - lease
    ).update(status=Recipient.Status.QUEUED, claimed_at=None, next_attempt_at=now)
    due = (
        Recipient.objects.filter(
            status=Recipient.Status.QUEUED, next_attempt_at__lte=now
        )
        .filter(Q(attempts__gt=0) | Q(next_attempt_at__lte=now - grace))
        .order_by()
        .values_list("message_id", flat=True)
        .distinct()[:limit]
    )
    message_ids = sorted(set(stale_ids) | set(due))
    size = settings.DELIVERY_BATCH_SIZE
    for start in range(0, len(message_ids), size):
        deliver_messages.delay(message_ids[start : start + size])
    if stale or message_ids:
        logger.info(
            "sweep: %d stale claims re-queued, %d messages enqueued",
            stale,
            len(message_ids),
        )
    return SweepReport(stale_reclaimed=stale, messages_enqueued=len(message_ids))
