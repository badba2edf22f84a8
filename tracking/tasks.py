"""Celery edges for tracking."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def tracking_drain() -> None:
    """Move buffered open/click hits into PostgreSQL (``hits_drain``). When
    another drainer holds the lock, try again shortly so hits pushed meanwhile
    are not left waiting for the periodic run. Safe to run concurrently."""
    from .buffer import hits_drain

    if hits_drain() is None:
        tracking_drain.apply_async(countdown=1)


@shared_task(acks_late=True, ignore_result=True)
def tracking_drain_sweep() -> None:
    """Periodic safety net: drain hits whose drain task was lost."""
    from .buffer import hits_drain

    hits_drain()
