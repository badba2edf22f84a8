"""Nothing is lost when a worker dies mid-batch and the broker forgets its tasks.

A worker subprocess starts delivering 40 messages to a slow receiver; we kill
its whole process group with SIGKILL mid-batch and then empty the broker
(``FLUSHDB`` on our Redis database). PostgreSQL still knows every recipient:
the rows the dead worker had claimed are ``sending`` with an old ``claimed_at``,
the rest are ``queued``. The sweeper re-queues the stale claims once the lease
has passed and re-enqueues everything due, and a fresh worker delivers it all.

Duplicates, counted below: the killed worker had handed some messages to the
receiver (remote 250) without having committed their outcome yet; outcomes are
committed every ``DELIVERY_RECORD_EVERY`` transactions (5 here). Those rows are
re-sent after the lease, so the receiver may see up to RECORD_EVERY + 1 (the one
in flight during the kill) duplicates per killed batch. The database still holds
exactly one Delivered event per recipient. This is SMTP's at-least-once window
(RFC 1047 describes the same race at the end of DATA); docs/delivery.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.db import connection

from messages.delivery import delivery_sweep
from messages.models import MessageEvent, Recipient
from postmark_clone.celery import app

from .delivery_helpers import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RECORD_EVERY = 5
TOTAL = 40


def test_a_killed_worker_and_a_flushed_broker_lose_no_mail(
    api, tenant, sink, pool_to, settings
):
    sink.state.data_delay = 0.05  # a slow receiver, so the kill lands mid-batch
    pool_to(sink.port)
    app.control.purge()
    body = [
        {
            "From": tenant.sender,
            "To": f"user{i}@example.org",
            "Subject": f"Message {i}",
            "TextBody": "x" * 2000,
        }
        for i in range(TOTAL)
    ]
    response = api.send_json("POST", "/email/batch", body, **tenant.server_headers)
    assert response.status_code == 200, response.content

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "REDIS_URL": django_settings.REDIS_URL,
        "SENDER_POOL": settings.SENDER_POOL,
        "DELIVERY_RECORD_EVERY": str(RECORD_EVERY),
        "ARCHIVE_LOCAL_ROOT": str(django_settings.ARCHIVE_LOCAL_ROOT),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "postmark_clone", "worker"]
        + ["--pool=prefork", "--concurrency=1", "--loglevel=WARNING"]
        + ["--without-mingle", "--without-gossip", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group: we kill only it
    )
    try:
        wait_for(lambda: sink.state.count >= 12, timeout=60)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    sent_before_kill = sink.state.count

    # The broker loses every task. FLUSHDB on our own Redis database, not
    # FLUSHALL: this Redis is shared with other tenants (other test runs use
    # other database numbers); in CI the test database is dedicated anyway.
    redis.Redis.from_url(django_settings.CELERY_BROKER_URL).flushdb()

    statuses = Counter(Recipient.objects.values_list("status", flat=True))
    assert statuses["sending"] > 0, statuses  # claims of the dead worker
    assert statuses["delivered"] < TOTAL

    settings.DELIVERY_LEASE_SECONDS = 1
    settings.DELIVERY_SWEEP_GRACE_SECONDS = 0
    time.sleep(1.2)
    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ):
        report = delivery_sweep()
        assert report.stale_reclaimed == statuses["sending"]
        wait_for(
            lambda: Recipient.objects.filter(status="delivered").count() == TOTAL,
            timeout=60,
        )

    received = Counter(m.rcpt_tos[0] for m in sink.state.received)
    assert set(received) == {f"user{i}@example.org" for i in range(TOTAL)}
    duplicates = sum(n - 1 for n in received.values())
    print(f"sent before kill: {sent_before_kill}, duplicates: {duplicates}")
    assert duplicates <= RECORD_EVERY + 1
    delivered_events = Counter(
        MessageEvent.objects.filter(type="Delivered").values_list(
            "recipient", flat=True
        )
    )
    assert len(delivered_events) == TOTAL
    assert set(delivered_events.values()) == {1}
