"""End to end over real sockets: POST /email → on-commit task in Redis → a real
Celery worker → the sender pool → an aiosmtpd receiver in the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery.contrib.testing.worker import start_worker

from messages.delivery import delivery_sweep
from messages.dkim import dkim_verify
from messages.models import Message, Recipient
from messages.verp import verp_decode
from postmark_clone.celery import app

from .delivery_helpers import closed_port, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def worker(sink) -> Iterator[object]:
    """A real worker consuming from our Redis test database."""
    app.control.purge()  # tasks left by earlier tests point at deleted rows
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as running:
        yield running


def api_send(api, tenant, **overrides) -> Message:
    body = {
        "From": f"Acme Support <{tenant.sender}>",
        "To": "alice@example.org",
        "Cc": "carol@example.org",
        "Subject": "Your receipt",
        "TextBody": "Thanks for your order.",
        "HtmlBody": "<p>Thanks for your order.</p>",
        "ReplyTo": "help@acme.example.com",
    }
    body.update(overrides)
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert response.status_code == 200, response.content
    return Message.objects.get(message_id=response.json()["MessageID"])


def event_types(message: Message) -> list[str]:
    return list(
        message.events.order_by("created_at", "id").values_list("type", flat=True)
    )


def test_an_api_message_arrives_dkim_signed_with_a_verp_return_path(
    api, tenant, sink, pool_to, worker
):
    pool_to(sink.port)
    message = api_send(api, tenant)

    wait_for(lambda: message.events.filter(type="Delivered").count() == 2)

    assert len(sink.state.received) == 2
    published = {tenant.domain.dkim_host: tenant.domain.dkim_text_value}
    for received in sink.state.received:
        assert received.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
        assert b"c=relaxed/relaxed" in received.data[:200]
        assert dkim_verify(message=received.data, txt_lookup=published.get)
        row = Recipient.objects.get(message=message, email=received.rcpt_tos[0])
        assert verp_decode(received.mail_from) == row.id
        assert received.mail_from.endswith("@bounces.localhost")
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_a_tampered_message_fails_dkim_verification(api, tenant, sink, pool_to, worker):
    pool_to(sink.port)
    api_send(api, tenant, Cc="")
    received = wait_for(lambda: sink.state.received)[0]
    published = {tenant.domain.dkim_host: tenant.domain.dkim_text_value}
    tampered = received.data.replace(b"Your receipt", b"Your refund")
    assert not dkim_verify(message=tampered, txt_lookup=published.get)


def test_the_first_route_down_delivers_through_the_second(
    api, tenant, sink, settings, worker
):
    settings.SENDER_POOL = (
        f"smtp://127.0.0.1:{closed_port()}?tls=none&weight=1000,"
        f"smtp://127.0.0.1:{sink.port}?tls=none"
    )
    message = api_send(api, tenant, Cc="")

    wait_for(lambda: message.events.filter(type="Delivered").exists())

    assert len(sink.state.received) == 1
    row = message.recipients.get()
    assert row.route == f"smtp://127.0.0.1:{sink.port}"
    assert row.attempts == 1


def test_a_4xx_then_success_gives_one_delivered_after_a_transient(
    api, tenant, sink, pool_to, settings, worker
):
    settings.DELIVERY_RETRY_BASE_SECONDS = 0  # retry at once
    pool_to(sink.port)
    message = api_send(api, tenant, To="tempfail@example.org", Cc="")
    wait_for(lambda: message.events.filter(type="Transient").exists())

    # The retry lives in PostgreSQL as next_attempt_at; the periodic sweeper
    # sees it is due and hands it to the worker.
    delivery_sweep()

    wait_for(lambda: message.events.filter(type="Delivered").exists())
    assert event_types(message) == ["Transient", "Delivered"]
    assert len(sink.state.received) == 1
    transient = message.events.get(type="Transient")
    assert transient.details["DeliveryMessage"].startswith("451 4.3.0")


def test_a_5xx_gives_a_bounced_event(api, tenant, sink, pool_to, worker):
    pool_to(sink.port)
    message = api_send(api, tenant, To="hardbounce@example.org", Cc="")

    wait_for(lambda: message.events.exists())

    assert event_types(message) == ["Bounced"]
    assert sink.state.received == []
    assert message.recipients.get().status == Recipient.Status.BOUNCED
