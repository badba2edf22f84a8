"""Inbound end to end over real sockets: smtplib → the MX on an ephemeral port →
PostgreSQL → a real Celery worker (Redis broker) → a real HTTP receiver, and
the result read back through the live HTTP API."""

from __future__ import annotations

import smtplib
import time

import pytest
import requests
from celery.contrib.testing.worker import start_worker

from bounces.bounce_mx import bounce_mx_controller
from bounces.models import Bounce
from inbound.models import InboundMessage
from postmark_clone.celery import app

from .conftest import inbound_address, set_hook, simple_eml

Status = InboundMessage.Status


@pytest.fixture
def worker(transactional_db, hook_settings):
    app.control.purge()  # leftovers from other tests must not run here
    with start_worker(app, perform_ping_check=False, shutdown_timeout=10):
        yield


@pytest.fixture
def mx(transactional_db):
    controller = bounce_mx_controller(host="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def smtp_send(mx, tenant, *, subject: str, mailbox_hash: str = "") -> None:
    address = inbound_address(tenant, mailbox_hash)
    with smtplib.SMTP("127.0.0.1", mx.port, timeout=10) as client:
        client.ehlo("mail.example.org")
        client.sendmail(
            "ana@example.org", [address], simple_eml(to=address, subject=subject)
        )


def wait_for(status: str, timeout: float = 30) -> InboundMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = InboundMessage.objects.order_by("-id").first()
        if row is not None and row.status == status:
            return row
        time.sleep(0.1)
    raise AssertionError(f"inbound message is {row and row.status}, wanted {status}")


def test_smtp_to_hook_with_retries_then_visible_in_the_api(
    worker, mx, tenant, receiver, hook_settings, live_server
):
    hook_settings.INBOUND_RETRY_DELAYS = [1, 1, 1]
    receiver.statuses = [500, 500, 200]
    set_hook(tenant, receiver.url)
    smtp_send(mx, tenant, subject="Over the wire", mailbox_hash="case-5")
    row = wait_for(Status.PROCESSED)
    assert row.attempts == 3
    assert len(receiver.requests) == 3
    body = receiver.requests[-1].json
    assert body["Subject"] == "Over the wire"
    assert body["MailboxHash"] == "case-5"
    assert body["MessageID"] == str(row.message_id)
    assert [r.headers["X-PM-Retries-Remaining"] for r in receiver.requests] == [
        "3",
        "2",
        "1",
    ]
    response = requests.get(
        f"{live_server.url}/messages/inbound",
        params={"count": 10, "offset": 0, "mailboxhash": "case-5"},
        headers={
            "Accept": "application/json",
            "X-Postmark-Server-Token": tenant.server_token,
        },
        timeout=10,
    )
    (item,) = response.json()["InboundMessages"]
    assert item["MessageID"] == str(row.message_id)
    assert item["Status"] == "Processed"


def test_a_403_stops_retries_and_records_an_inbound_error(
    worker, mx, tenant, receiver, hook_settings
):
    hook_settings.INBOUND_RETRY_DELAYS = [1] * 10
    receiver.statuses = [403]
    set_hook(tenant, receiver.url)
    smtp_send(mx, tenant, subject="Forbidden")
    row = wait_for(Status.FAILED)
    time.sleep(1.5)  # a retry, if one were wrongly scheduled, would arrive now
    assert len(receiver.requests) == 1
    assert row.last_status_code == 403
    assert Bounce.objects.get(type="InboundError").message_uuid == row.message_id
