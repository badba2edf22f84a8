"""Per-server statistics counters (sent, delivered, bounced by type, spam).

Kept current as events happen so reads stay cheap at any archive size: every
event adds to a ``DailyStat`` counter row for (server, day, stream, tag) in the
same transaction as the event itself, and the ``/stats/outbound*`` API reads only
those rows (``bounces.selectors_stats``).

Counter names used by writers (``counts`` keys):

* ``Sent``: one per accepted recipient (Postmark counts a multi-recipient message
  once per recipient), recorded by ``messages.services`` at submission.
* ``Delivered``: one per delivered recipient.
* ``Bounced``: one per bounce that counts towards ``BounceRate``.
* one per bounce under its Postmark type name: ``HardBounce``, ``SoftBounce``,
  ``Transient``, ``SMTPApiError``, ``SpamComplaint``, ``DnsError``, ...
* ``SMTPApiErrors`` and ``SpamComplaints`` are accepted as aliases of
  ``SMTPApiError`` and ``SpamComplaint`` (one event, one count, even when a
  caller passes both spellings).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from postmark_clone.bulk import Writes

from .models import DailyStat

# Plural spellings some callers use for the per-type counters.
ALIASES = {"SMTPApiErrors": "SMTPApiError", "SpamComplaints": "SpamComplaint"}
# Tags longer than this (UTF-8 bytes) are stored as a hash so the unique index
# stays small (PostgreSQL refuses btree entries over ~2.7 kB; tags may be 1000
# characters of 4-byte UTF-8).
TAG_KEY_MAX_BYTES = 64

_local = threading.local()
_process: dict[str, object] = {}
_process_lock = threading.Lock()


def stats_shard() -> int:
    """The counter shard this thread writes (``DailyStat.shard``).

    Each process starts at a random shard and gives its threads consecutive
    shards from there, so up to ``STATS_COUNTER_SHARDS`` threads of one process
    never wait on each other's counter rows, and two processes share a row only
    where their random ranges overlap. A thread keeps its shard, so its rows
    stay few.
    """
    shards = max(1, settings.STATS_COUNTER_SHARDS)
    number = getattr(_local, "number", None)
    if number is None or _local.pid != os.getpid():
        with _process_lock:
            if _process.get("pid") != os.getpid():  # first call, or a forked child
                _process.update(
                    pid=os.getpid(), numbers=itertools.count(random.randrange(1 << 30))
                )
            number = next(_process["numbers"])  # type: ignore[call-overload]
        _local.number, _local.pid = number, os.getpid()
    return number % shards


def stats_day(when: datetime) -> date:
    """The statistics day of an aware datetime, in ``STATS_TIME_ZONE``."""
    return when.astimezone(ZoneInfo(settings.STATS_TIME_ZONE)).date()


def stats_tag_key(tag: str) -> str:
    """The ``DailyStat.tag_key`` of a (non-empty) tag. Pure."""
    raw = tag.encode()
    if len(raw) <= TAG_KEY_MAX_BYTES and not tag.startswith("sha256:"):
        return tag
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _normalise(counts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in counts.items():
        if not value:
            continue
        canonical = ALIASES.get(name, name)
        # Alias and canonical spelling of one event count once (max, not sum).
        out[canonical] = max(out.get(canonical, 0), int(value))
    return out


def stats_record(
    *,
    server_id: int,
    message_stream: str,
    tag: str,
    day: date,
    counts: dict[str, int],
    writes: Writes | None = None,
) -> None:
    """Add ``counts`` (e.g. ``{"Sent": 3}``) to the day's counters. Call inside the
    transaction that records the event, so counters and events agree.

    ``day`` may be a ``date`` or an aware ``datetime`` (converted with
    ``stats_day``; prefer passing the event's datetime). Concurrency-safe: one
    ``INSERT ... ON CONFLICT DO UPDATE SET value = value + excluded.value``
    statement (PostgreSQL and SQLite), rows in a fixed order so concurrent
    writers lock them in the same order, on this thread's shard
    (``stats_shard``) so concurrent writers rarely share a row at all. With
    ``writes`` the upsert is queued there, to travel with the caller's other
    statements (``postmark_clone.bulk.Writes``). Not idempotent: each call adds
    again.
    """
    if isinstance(day, datetime):
        day = stats_day(day)
    values = _normalise(counts)
    if not values:
        return
    stream = (message_stream or "outbound").lower()
    tag_keys = [""] + ([stats_tag_key(tag)] if tag else [])
    rows = sorted(
        (day, stream, tag_key, name, value)
        for tag_key in tag_keys
        for name, value in values.items()
    )
    shard = stats_shard()
    if connection.vendor in ("postgresql", "sqlite"):
        sql, params = _upsert(server_id, shard, rows)
        if writes is not None:
            writes.add(sql, params)
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
    else:  # pragma: no cover - other databases are not supported targets
        _update_then_insert(server_id, shard, rows)


def _upsert(
    server_id: int, shard: int, rows: list[tuple[date, str, str, str, int]]
) -> tuple[str, list[object]]:
    table = connection.ops.quote_name(DailyStat._meta.db_table)
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    params: list[object] = []
    for day, stream, tag_key, name, value in rows:
        params.extend([server_id, day, stream, tag_key, name, shard, value])
    # Only the quoted table name and "%s" placeholders are interpolated; every
    # value travels as a parameter.
    columns = "server_id, day, message_stream, tag_key, name, shard, value"
    sql = (
        f"INSERT INTO {table} ({columns}) "  # noqa: S608
        f"VALUES {placeholders} "
        "ON CONFLICT (server_id, day, message_stream, tag_key, name, shard) "
        f"DO UPDATE SET value = {table}.value + excluded.value"
    )
    return sql, params


def _update_then_insert(
    server_id: int, shard: int, rows: list[tuple[date, str, str, str, int]]
) -> None:
    for day, stream, tag_key, name, value in rows:
        key = {
            "server_id": server_id,
            "day": day,
            "message_stream": stream,
            "tag_key": tag_key,
            "name": name,
            "shard": shard,
        }
        for _ in range(3):
            if DailyStat.objects.filter(**key).update(value=F("value") + value):
                break
            try:
                with transaction.atomic():
                    DailyStat.objects.create(**key, value=value)
                break
            except IntegrityError:
                continue  # a concurrent writer inserted it first: add to it


def stats_record_sent(
    *,
    items: Iterable[tuple[int, str, str, datetime, int]],
    writes: Writes | None = None,
) -> None:
    """Count ``Sent`` for a submitted batch: ``items`` are
    ``(server_id, message_stream, tag, received_at, recipient_count)``.

    Aggregates first, then one ``stats_record`` per (server, stream, tag, day),
    queued on ``writes`` when given. Call inside the submission transaction.
    Not idempotent.
    """
    groups: Counter[tuple[int, date, str, str]] = Counter()
    for server_id, stream, tag, received_at, recipients in items:
        groups[(server_id, stats_day(received_at), stream.lower(), tag)] += recipients
    # Sorted like the rows inside stats_record (day, stream, roll-up before
    # tags), so every writer locks counter rows in one global order: no deadlocks.
    for (server_id, day, stream, tag), sent in sorted(groups.items()):
        stats_record(
            server_id=server_id,
            message_stream=stream,
            tag=tag,
            day=day,
            counts={"Sent": sent},
            writes=writes,
        )
