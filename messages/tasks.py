"""Celery edges for delivery. Tasks take ids, re-fetch, and call one service."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def deliver_messages(message_ids: list[int]) -> None:
    """Deliver the queued recipients of these messages (the delivery issue fills
    this in; until then messages wait in the database, which is the queue of record)."""
    return None


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
