"""Celery edges for delivery. Tasks take ids, re-fetch, and call one service."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def deliver_messages(message_ids: list[int]) -> None:
    """Deliver the queued recipients of these messages (the delivery issue fills
    this in; until then messages wait in the database, which is the queue of record)."""
    return None
