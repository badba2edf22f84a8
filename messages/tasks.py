"""Celery edges for delivery. Tasks take ids, re-fetch, and call one service.

``acks_late``: the broker message is acknowledged only after the task ran, so a
worker that dies mid-task has it redelivered. That is safe because the service
claims rows by compare-and-set; a redelivered or duplicate task finds nothing to
claim and returns. Nothing is retried through Celery: 4xx retries are a
``next_attempt_at`` in the database, picked up by ``delivery_sweep``.
"""

from __future__ import annotations

from celery import shared_task

from .delivery import delivery_run, delivery_sweep


@shared_task(acks_late=True, ignore_result=True)
def deliver_messages(message_ids: list[int]) -> None:
    """Deliver the due queued recipients of these messages. Idempotent: rows
    another worker holds (or already delivered) are skipped quietly."""
    from .dispatch import task_started

    task_started()
    delivery_run(message_ids=list(message_ids))


@shared_task(acks_late=True, ignore_result=True)
def delivery_sweep_task() -> None:
    """Periodic: re-queue stale claims and re-enqueue due recipients with no
    task in flight (see ``delivery_sweep``). Safe to run concurrently."""
    delivery_sweep()


@shared_task(acks_late=True, ignore_result=True)
def purge_archive() -> None:
    """Periodic retention purge (see ``messages.retention.archive_purge``).

    Bounded to ``ARCHIVE_PURGE_MAX_SECONDS`` per run so it never piles up behind
    itself; whatever is left waits for the next run. Safe to run twice or
    concurrently: deletes are idempotent.
    """
    from django.conf import settings

    from .retention import archive_purge

    archive_purge(
        batch_size=settings.ARCHIVE_PURGE_BATCH_SIZE,
        max_seconds=settings.ARCHIVE_PURGE_MAX_SECONDS,
    )
