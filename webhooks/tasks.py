"""Celery edges for tenant webhooks. Tasks take ids, re-fetch, call one service."""

from __future__ import annotations

from celery import shared_task

from .services import (
    webhook_deliveries_enqueue_due,
    webhook_deliveries_purge,
    webhook_delivery_attempt,
)


@shared_task(acks_late=True, ignore_result=True)
def webhook_deliver(delivery_id: int) -> None:
    """POST one outbox row if it is due (claimed by a conditional UPDATE, so a
    redelivered or duplicate message is a no-op). Safe to run twice."""
    webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(acks_late=True, ignore_result=True)
def webhook_sweep() -> None:
    """Queue every due outbox row (retries, and rows whose broker message was
    lost). Run periodically by beat; safe to run concurrently."""
    webhook_deliveries_enqueue_due()


@shared_task(acks_late=True, ignore_result=True)
def webhook_purge() -> None:
    """Delete finished outbox rows past their retention. Safe to run twice."""
    webhook_deliveries_purge()
