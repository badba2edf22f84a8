"""Celery edges for inbound mail. Tasks take ids, re-fetch, call one service."""

from __future__ import annotations

from celery import shared_task

from .services import (
    inbound_deliver_attempt,
    inbound_deliveries_enqueue_due,
    inbound_purge,
)


@shared_task(acks_late=True, ignore_result=True)
def inbound_deliver(inbound_id: int) -> None:
    """POST one inbound message to its server's InboundHookUrl if it is due
    (claimed by a conditional UPDATE, so a redelivered or duplicate task is a
    no-op). Safe to run twice."""
    inbound_deliver_attempt(inbound_id=inbound_id)


@shared_task(acks_late=True, ignore_result=True)
def inbound_sweep() -> None:
    """Queue every due inbound POST: retries whose delay has passed, claims
    whose worker died (lease expired) and tasks the broker lost. Periodic;
    safe to run concurrently."""
    inbound_deliveries_enqueue_due()


@shared_task(acks_late=True, ignore_result=True)
def inbound_purge_task() -> None:
    """Delete inbound messages past their retention (blocked: 10 days) and
    their raw messages. Periodic; idempotent."""
    inbound_purge()
