"""End to end through a real Celery worker and the Redis broker."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction
from django.utils import timezone

from postmark_clone.celery import app
from webhooks.models import WebhookDelivery
from webhooks.services import WebhookInput, webhook_create, webhook_emit
from webhooks.tasks import webhook_sweep

from .test_delivery import DELIVERY


@pytest.fixture
def worker(transactional_db, webhook_settings):
    app.control.purge()  # leftovers from other tests must not run here
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        yield


def wait_for_status(row_id: int, status: str, timeout: float = 20) -> WebhookDelivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = WebhookDelivery.objects.get(id=row_id)
        if row.status == status:
            return row
        time.sleep(0.1)
    raise AssertionError(f"delivery {row_id} is {row.status}, wanted {status}")


def hook(tenant, url):
    return webhook_create(
        server=tenant.server,
        data=WebhookInput(url=url, triggers={"Delivery": {"Enabled": True}}),
    )


def test_an_emitted_event_is_posted_after_commit(worker, tenant, receiver):
    hook(tenant, receiver.url)
    with transaction.atomic():
        webhook_emit(
            server=tenant.server,
            message_stream="outbound",
            record_type="Delivery",
            payload=DELIVERY,
        )
    row = wait_for_status(WebhookDelivery.objects.get().id, "delivered")
    assert receiver.requests[0].json == DELIVERY
    assert row.attempts == 1


def test_the_worker_retries_until_the_receiver_recovers(
    worker, tenant, receiver, webhook_settings
):
    webhook_settings.WEBHOOK_RETRY_DELAYS = [1, 1, 1]
    receiver.statuses = [500, 502, 200]
    hook(tenant, receiver.url)
    with transaction.atomic():
        webhook_emit(
            server=tenant.server,
            message_stream="outbound",
            record_type="Delivery",
            payload=DELIVERY,
        )
    row = wait_for_status(WebhookDelivery.objects.get().id, "delivered")
    assert row.attempts == 3
    assert [r.headers["X-PM-Retries-Remaining"] for r in receiver.requests] == [
        "3",
        "2",
        "1",
    ]


def test_the_sweeper_sends_rows_whose_broker_message_was_lost(worker, tenant, receiver):
    webhook = hook(tenant, receiver.url)
    # An outbox row committed without any task message (e.g. broker outage).
    row = WebhookDelivery.objects.create(
        webhook=webhook,
        record_type="Delivery",
        body=WebhookDelivery.encode(DELIVERY),
        next_attempt_at=timezone.now(),
    )
    webhook_sweep.delay()
    wait_for_status(row.id, "delivered")
    assert len(receiver.requests) == 1
