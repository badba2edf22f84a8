"""Delivery services over real sockets, without Celery: claim → sign → SMTP →
outcome, called the way the task calls them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from messages.delivery import delivery_run, delivery_sweep, recipients_claim
from messages.email import OutboundEmail
from messages.models import Message, MessageEvent, Recipient
from messages.services import message_send
from messages.verp import verp_decode

from .delivery_helpers import closed_port

pytestmark = pytest.mark.django_db


def send(tenant, to="alice@example.org", **kw) -> Message:
    result = message_send(
        server=tenant.server,
        email=OutboundEmail(
            from_header=f"Acme <{tenant.sender}>",
            to=to,
            subject=kw.pop("subject", "Hello"),
            text_body="Hi there",
            **kw,
        ),
    )
    return Message.objects.get(message_id=result.message_id)


def events(message: Message) -> list[tuple[str, str]]:
    return [(e.type, e.recipient) for e in message.events.order_by("created_at", "id")]


def test_it_delivers_to_the_route_and_records_a_delivered_event(tenant, sink, pool_to):
    pool_to(sink.port)
    message = send(tenant, to="alice@example.org, bob@example.org")

    report = delivery_run(message_ids=[message.id])

    assert report.delivered == 2
    assert sorted(r for m in sink.state.received for r in m.rcpt_tos) == [
        "alice@example.org",
        "bob@example.org",
    ]
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    delivered = message.events.filter(type=MessageEvent.Type.DELIVERED)
    assert delivered.count() == 2
    details = delivered.first().details
    assert details["DeliveryMessage"].startswith("250 2.0.0 Ok: queued as")
    assert details["DestinationServer"] == "127.0.0.1"
    assert details["DestinationIP"] == "127.0.0.1"


def test_each_recipient_gets_its_own_verp_envelope_sender(tenant, sink, pool_to):
    pool_to(sink.port)
    message = send(tenant, to="alice@example.org, bob@example.org")
    delivery_run(message_ids=[message.id])

    by_rcpt = {m.rcpt_tos[0]: m.mail_from for m in sink.state.received}
    for row in message.recipients.all():
        assert by_rcpt[row.email].endswith("@bounces.localhost")
        assert verp_decode(by_rcpt[row.email]) == row.id


def test_the_return_path_uses_the_sender_domains_return_path_domain(
    tenant, sink, pool_to
):
    tenant.domain.return_path_domain = "pm-bounces.acme.example.com"
    tenant.domain.save()
    pool_to(sink.port)
    message = send(tenant)
    delivery_run(message_ids=[message.id])
    assert sink.state.received[0].mail_from.endswith("@pm-bounces.acme.example.com")


def test_a_5xx_at_rcpt_records_a_bounced_event(tenant, sink, pool_to):
    pool_to(sink.port)
    message = send(tenant, to="hardbounce@example.org")

    report = delivery_run(message_ids=[message.id])

    assert report.bounced == 1
    assert sink.state.received == []
    assert events(message) == [("Bounced", "hardbounce@example.org")]
    row = message.recipients.get()
    assert row.status == Recipient.Status.BOUNCED
    assert row.last_reply.startswith("550 5.1.1")
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    from bounces.models import Bounce

    assert "5.1.1" in Bounce.objects.get(message=message).details


def test_a_4xx_records_transient_with_the_next_attempt_then_delivers(
    tenant, sink, pool_to, settings
):
    settings.DELIVERY_RETRY_BASE_SECONDS = 120
    pool_to(sink.port)
    message = send(tenant, to="tempfail@example.org")

    report = delivery_run(message_ids=[message.id])

    assert report.transient == 1
    row = message.recipients.get()
    assert row.status == Recipient.Status.QUEUED
    assert row.attempts == 1
    # 120 s ± 25 % jitter, stored in the database (no far-future Celery ETA).
    wait = (row.next_attempt_at - timezone.now()).total_seconds()
    assert 80 < wait < 160
    transient = message.events.get(type="Transient")
    assert transient.details["DeliveryMessage"].startswith("451 4.3.0")
    assert transient.details["NextAttemptAt"] == row.next_attempt_at.isoformat()
    # Not due yet: a run claims nothing.
    assert delivery_run(message_ids=[message.id]).claimed == 0

    Recipient.objects.filter(id=row.id).update(next_attempt_at=timezone.now())
    assert delivery_run(message_ids=[message.id]).delivered == 1
    assert events(message) == [
        ("Transient", "tempfail@example.org"),
        ("Delivered", "tempfail@example.org"),
    ]
    assert len(sink.state.received) == 1


def test_after_the_retry_window_a_4xx_gives_up_as_a_soft_bounce(
    tenant, sink, pool_to, settings
):
    pool_to(sink.port)
    message = send(tenant, to="softbounce@example.org")
    Message.objects.filter(id=message.id).update(
        received_at=timezone.now() - timedelta(hours=73)
    )

    delivery_run(message_ids=[message.id])

    assert events(message) == [("Bounced", "softbounce@example.org")]
    assert message.recipients.get().status == Recipient.Status.BOUNCED
    from bounces.models import Bounce

    assert Bounce.objects.get(message=message).type == "SoftBounce"


def test_when_the_first_route_is_down_it_delivers_through_the_second(
    tenant, sink, settings
):
    down = closed_port()
    # weight 100 makes the dead route the likely first choice.
    settings.SENDER_POOL = (
        f"smtp://127.0.0.1:{down}?tls=none&weight=100,"
        f"smtp://127.0.0.1:{sink.port}?tls=none"
    )
    message = send(tenant)

    report = delivery_run(message_ids=[message.id])

    assert report.delivered == 1
    assert len(sink.state.received) == 1
    from messages.pool import pool_status

    status = {r["Name"]: r for r in pool_status()}
    assert status[f"smtp://127.0.0.1:{down}"]["Up"] is False
    assert status[f"smtp://127.0.0.1:{down}"]["ConsecutiveFailures"] == 1
    assert status[f"smtp://127.0.0.1:{sink.port}"]["Up"] is True


def test_when_every_route_is_down_messages_wait_without_an_event(
    tenant, clean_health, settings
):
    settings.SENDER_POOL = f"smtp://127.0.0.1:{closed_port()}?tls=none"
    message = send(tenant)

    report = delivery_run(message_ids=[message.id])

    assert report.deferred == 1
    row = message.recipients.get()
    assert row.status == Recipient.Status.QUEUED
    assert row.attempts == 0
    assert row.next_attempt_at > timezone.now()  # when the cooldown ends
    assert events(message) == []


def test_sandbox_servers_record_delivered_without_smtp(tenant, sink, pool_to):
    tenant.server.delivery_type = "Sandbox"
    tenant.server.save()
    pool_to(sink.port)
    message = send(tenant)

    delivery_run(message_ids=[message.id])

    assert sink.state.received == []
    assert events(message) == [("Delivered", "alice@example.org")]


def test_a_claim_is_exclusive(tenant, sink, pool_to):
    pool_to(sink.port)
    message = send(tenant)
    now = timezone.now()
    assert len(recipients_claim(message_ids=[message.id], limit=10, now=now)) == 1
    assert recipients_claim(message_ids=[message.id], limit=10, now=now) == []
    # A duplicate task for the same message returns quietly.
    assert delivery_run(message_ids=[message.id]).claimed == 0
    assert sink.state.received == []


def test_one_connection_carries_many_messages(tenant, sink, pool_to):
    pool_to(sink.port)
    ids = [send(tenant, to=f"user{i}@example.org").id for i in range(5)]
    delivery_run(message_ids=ids)
    assert len(sink.state.received) == 5
    assert len({m.peer for m in sink.state.received}) == 1
    from messages.sending import _local

    session = next(iter(_local.sessions.values()))
    assert session.transactions == 5


def test_the_sweeper_requeues_stale_claims(tenant, sink, pool_to, settings):
    pool_to(sink.port)
    message = send(tenant)
    recipients_claim(message_ids=[message.id], limit=10, now=timezone.now())
    # The worker that claimed it died: the claim is older than the lease.
    long_ago = timezone.now() - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS + 5)
    Recipient.objects.filter(message=message).update(claimed_at=long_ago)

    report = delivery_sweep()

    assert report.stale_reclaimed == 1
    row = message.recipients.get()
    assert row.status == Recipient.Status.QUEUED
    assert report.messages_enqueued == 1


def test_a_worker_whose_claim_was_taken_over_records_nothing(tenant, sink, pool_to):
    """The lease expired, the sweeper re-queued the row and another worker
    claimed it: the first worker's late outcome must not be recorded twice."""
    from messages.delivery import DeliveryReport, outcomes_record
    from messages.sending import Outcome

    pool_to(sink.port)
    message = send(tenant)
    first_claim = timezone.now() - timedelta(minutes=10)
    row = message.recipients.get()
    Recipient.objects.filter(id=row.id).update(status="sending", claimed_at=first_claim)
    Recipient.objects.filter(id=row.id).update(claimed_at=timezone.now())  # taken over
    row.refresh_from_db()
    row = Recipient.objects.select_related("message__server").get(id=row.id)

    report = DeliveryReport()
    outcomes_record(
        outcomes=[Outcome(key=row.id, kind="delivered", reply="250 ok")],
        rows={row.id: row},
        claimed_at=first_claim,
        report=report,
    )

    assert report.lost == 1 and report.delivered == 0
    assert message.events.count() == 0
    assert Recipient.objects.get(id=row.id).status == "sending"


def test_the_sweeper_is_scheduled_in_celery_beat():
    from postmark_clone.celery import app

    schedule = app.conf.beat_schedule["delivery-sweep"]
    assert schedule["task"] == "messages.tasks.delivery_sweep_task"
    assert schedule["schedule"] <= 60
