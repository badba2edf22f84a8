"""Archive retention: forget messages past each server's retention period.

Postmark keeps message activity (content, events, metadata) for 45 days by
default, configurable per server from 7 to 365 days (``Server.retention_days``);
statistics are kept forever. ``archive_purge`` does two sweeps:

1. **Retention.** For every server, messages received before
   ``now - retention_days`` are deleted with their recipients and events, and
   their raw MIME objects are deleted from the archive. A message received
   exactly at the cutoff is kept (the window is ``[cutoff, now]``).
   Once a server's expired messages are all gone, its recipient addresses
   not seen since the cutoff (less ``RecipientAddress.REFRESH_INTERVAL``, the
   slack of the trigger that maintains ``last_seen``) are deleted from the
   address dictionary that fragment search reads, so a forgotten address
   cannot be found by searching for a piece of it.
2. **Content-free servers** (``store_content=False``). Their raw MIME exists only
   because delivery needs it. Once no recipient is waiting for (re)delivery the
   object is deleted and ``archive_key`` cleared; the metadata row stays until
   the retention sweep. Such objects carry the ``transient/`` key prefix, which
   a small partial index finds.

Design rules:

* Small batches (``batch_size`` ids, default 1,000): each batch deletes its
  objects first (idempotent deletes, outside any transaction: on S3 that is
  network I/O), then its rows in one short transaction. A crash between the two
  leaves rows whose object is already gone; the next run deletes them again.
  Deleting rows first could orphan objects forever, so the order matters.
* Resumable: all state is in the database; a run that hits its budget simply
  stops, and the next run continues where the rows say.
* Aggregates survive: ``bounces.DailyStat`` is its own table, bounces keep their
  own copies of message fields (their ``message`` link is set to NULL by
  Django's ``on_delete=SET_NULL``), suppressions are untouched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Server

from .archive import archive_delete_many
from .models import Message, Recipient, RecipientAddress

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
_WAITING = (Recipient.Status.QUEUED, Recipient.Status.SENDING)


@dataclass
class PurgeResult:
    """What one ``archive_purge`` run did; ``complete`` is False when the budget
    ran out before the work did (the next run continues)."""

    messages_deleted: int = 0
    addresses_deleted: int = 0
    objects_deleted: int = 0
    contents_cleared: int = 0
    batches: int = 0
    complete: bool = True


class _Budget:
    def __init__(self, max_batches: int | None, max_seconds: float | None) -> None:
        self.max_batches = max_batches
        self.deadline = (
            time.monotonic() + max_seconds if max_seconds is not None else None
        )
        self.batches = 0

    def spend(self) -> bool:
        """True if another batch may run (and count it)."""
        if self.max_batches is not None and self.batches >= self.max_batches:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        self.batches += 1
        return True


def retention_cutoff(*, server: Server, now: datetime) -> datetime:
    """Messages received strictly before this instant are past retention."""
    return now - timedelta(days=server.retention_days)


def archive_purge(
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    max_seconds: float | None = None,
    server_ids: list[int] | None = None,
) -> PurgeResult:
    """Run both sweeps (retention, then content-free servers) within a budget.

    ``now`` defaults to the current time (tests pin it). ``max_batches`` and
    ``max_seconds`` bound one run; ``server_ids`` limits it to some servers.
    Safe to call twice and concurrently: a second caller finds nothing left or
    deletes the same objects again, which is harmless. Must not be called inside
    a transaction (it deletes archive objects, network I/O on S3).
    """
    now = now or timezone.now()
    budget = _Budget(max_batches, max_seconds)
    result = PurgeResult()
    servers = Server.objects.order_by("id")
    if server_ids is not None:
        servers = servers.filter(id__in=server_ids)
    for server in servers.only("id", "retention_days"):
        if not (
            _purge_expired(server, now, batch_size, budget, result)
            and _forget_addresses(server, now, batch_size, budget, result)
        ):
            result.complete = False
            break
    if result.complete:
        result.complete = _clear_finished_content(
            batch_size, budget, result, server_ids
        )
    result.batches = budget.batches
    logger.info(
        "archive purge: %s messages, %s addresses, %s objects, %s contents cleared, "
        "complete=%s",
        result.messages_deleted,
        result.addresses_deleted,
        result.objects_deleted,
        result.contents_cleared,
        result.complete,
    )
    return result


def _purge_expired(
    server: Server,
    now: datetime,
    batch_size: int,
    budget: _Budget,
    result: PurgeResult,
) -> bool:
    """Delete one server's expired messages. False if the budget ran out."""
    cutoff = retention_cutoff(server=server, now=now)
    expired = Message.objects.filter(server_id=server.id, received_at__lt=cutoff)
    while True:
        rows = list(
            expired.order_by("received_at", "id").values_list("id", "archive_key")[
                :batch_size
            ]
        )
        if not rows:
            return True
        if not budget.spend():
            return False
        ids = [row_id for row_id, _key in rows]
        # Objects first, outside the transaction (see the module docstring).
        result.objects_deleted += archive_delete_many(
            keys=[key for _id, key in rows if key]
        )
        with transaction.atomic():
            # Django's collector deletes recipients and events (CASCADE) and
            # detaches bounces (SET_NULL) in the same short transaction.
            Message.objects.filter(id__in=ids).delete()
        result.messages_deleted += len(ids)


def _forget_addresses(
    server: Server,
    now: datetime,
    batch_size: int,
    budget: _Budget,
    result: PurgeResult,
) -> bool:
    """Delete one server's dictionary addresses whose messages are all past
    retention. Runs only after ``_purge_expired`` finished the server, so no
    address is forgotten while messages to it remain. False if the budget ran
    out."""
    threshold = (
        retention_cutoff(server=server, now=now) - RecipientAddress.REFRESH_INTERVAL
    )
    stale = RecipientAddress.objects.filter(
        server_id=server.id, last_seen__lt=threshold
    )
    while True:
        ids = list(stale.order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            return True
        if not budget.spend():
            return False
        # ``last_seen`` is checked again by the DELETE itself: a send that
        # refreshed the row since the SELECT keeps it.
        deleted, _ = stale.filter(id__in=ids).delete()
        result.addresses_deleted += deleted


def _clear_finished_content(
    batch_size: int,
    budget: _Budget,
    result: PurgeResult,
    server_ids: list[int] | None,
) -> bool:
    """Delete the raw MIME of content-free servers' finished messages."""
    waiting = Recipient.objects.filter(message=OuterRef("pk"), status__in=_WAITING)
    candidates = Message.objects.filter(
        archive_key__startswith=f"{Message.TRANSIENT_KIND}/"
    ).filter(~Exists(waiting))
    if server_ids is not None:
        candidates = candidates.filter(server_id__in=server_ids)
    last_id = 0
    while True:
        rows = list(
            candidates.filter(id__gt=last_id)
            .order_by("id")
            .values_list("id", "archive_key")[:batch_size]
        )
        if not rows:
            return True
        if not budget.spend():
            return False
        last_id = rows[-1][0]
        result.objects_deleted += archive_delete_many(keys=[key for _id, key in rows])
        with transaction.atomic():
            result.contents_cleared += Message.objects.filter(
                id__in=[row_id for row_id, _key in rows],
                archive_key__startswith=f"{Message.TRANSIENT_KIND}/",
            ).update(archive_key="")
