"""Celery edges for tenancy. Tasks call one service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def purge_archived_streams() -> None:
    """Periodic: delete archived streams past their purge date (see
    ``accounts.services.streams_purge_expired``). Idempotent."""
    services.streams_purge_expired()
