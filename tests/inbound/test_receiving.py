"""The MX's inbound side: which RCPTs it accepts, what DATA stores, and how a
message is blocked. The synchronous core is tested directly, then over a real
socket with smtplib against the MX on an ephemeral port."""

from __future__ import annotations

import smtplib

import pytest
from django.conf import settings

from bounces.bounce_mx import bounce_mx_controller
from bounces.models import Bounce
from inbound.models import InboundMessage, InboundRule
from inbound.receiving import mx_rcpt_verdict, mx_receive
from inbound.services import inbound_receive
from messages.archive import archive_get
from tests.bounces.helpers import report_for, send, verp_for

from .conftest import fixture_eml, inbound_address, set_hook, simple_eml

pytestmark = pytest.mark.django_db


# --- RCPT ---------------------------------------------------------------------------


def test_it_accepts_the_inbound_hash_with_or_without_a_mailbox_hash(tenant):
    assert mx_rcpt_verdict(inbound_address(tenant)) == (True, None)
    assert mx_rcpt_verdict(inbound_address(tenant, "ticket-7")) == (True, None)
    # MTAs may change the case of the address.
    assert mx_rcpt_verdict(f"<{inbound_address(tenant).upper()}>") == (True, None)


def test_an_unknown_hash_at_the_inbound_domain_gets_550_5_1_1(tenant):
    inbound, refusal = mx_rcpt_verdict(f"nobody@{settings.INBOUND_ADDRESS_DOMAIN}")
    assert inbound is True
    assert refusal.startswith("550 5.1.1 ")


def test_any_local_part_at_a_servers_inbound_domain_is_accepted(tenant, other_tenant):
    tenant.server.inbound_domain = "replies.acme.example"
    tenant.server.save()
    assert mx_rcpt_verdict("anyone+42@Replies.Acme.Example") == (True, None)
    received = inbound_receive(
        mail_from="a@example.org",
        rcpt_tos=["anyone+42@replies.acme.example"],
        raw=simple_eml(to="anyone+42@replies.acme.example"),
    )
    (row,) = received.messages
    assert row.server == tenant.server
    assert row.mailbox_hash == "42"
    assert row.summary["ToFull"][0]["MailboxHash"] == "42"


def test_other_addresses_are_still_the_bounce_mxs_decision(tenant):
    row = send(tenant).recipients.get()
    assert mx_rcpt_verdict(verp_for(row)) == (False, None)
    inbound, refusal = mx_rcpt_verdict("someone@example.com")
    assert inbound is False and refusal.startswith("550 5.1.1 ")


# --- DATA -----------------------------------------------------------------------------


def test_a_received_message_is_archived_and_queued_for_the_hook(tenant):
    set_hook(tenant, "http://127.0.0.1:9/hook")
    address = inbound_address(tenant, "ticket-42")
    raw = fixture_eml(
        "reply_with_attachments.eml", inbound_hash=tenant.server.inbound_hash
    )
    (row,) = inbound_receive(
        mail_from="ana@example.org", rcpt_tos=[address], raw=raw
    ).messages
    row.refresh_from_db()
    assert row.status == InboundMessage.Status.QUEUED
    assert row.next_attempt_at is not None
    assert archive_get(key=row.raw_key) == raw
    assert row.original_recipient == address
    assert row.mailbox_hash == "ticket-42"
    assert row.from_email == "ana@example.org"
    assert row.subject == "Re: Größe order"
    assert row.spam_score == 1.3
    assert row.summary["FromName"] == "Ana Müller"
    assert [a["Name"] for a in row.summary["Attachments"]] == [
        "logo.png",
        "invoice.pdf",
    ]
    assert "bob@example.com" in row.recipients_text


def test_without_an_inbound_hook_url_a_message_is_processed_at_once(tenant):
    (row,) = inbound_receive(
        mail_from="a@example.org",
        rcpt_tos=[inbound_address(tenant)],
        raw=simple_eml(to=inbound_address(tenant)),
    ).messages
    assert row.status == InboundMessage.Status.PROCESSED
    assert "No InboundHookUrl" in row.hook_response


def test_each_envelope_recipient_gets_its_own_message(tenant, other_tenant):
    first, second = inbound_address(tenant, "a"), inbound_address(other_tenant, "b")
    received = inbound_receive(
        mail_from="a@example.org",
        rcpt_tos=[first, second],
        raw=simple_eml(to=f"{first}, {second}"),
    )
    rows = {m.server_id: m for m in received.messages}
    assert rows[tenant.server.id].original_recipient == first
    assert rows[other_tenant.server.id].original_recipient == second
    assert rows[tenant.server.id].raw_key != rows[other_tenant.server.id].raw_key


@pytest.mark.parametrize(
    ("threshold", "score", "blocked"),
    [(5, "7.2", True), (5, "5.0", False), (0, "30", False), (10, "-", False)],
)
def test_spam_above_the_servers_threshold_is_blocked(tenant, threshold, score, blocked):
    tenant.server.inbound_spam_threshold = threshold
    tenant.server.save()
    raw = (
        b"X-Spam-Score: "
        + score.encode()
        + b"\r\n"
        + simple_eml(to=inbound_address(tenant))
    )
    (row,) = inbound_receive(
        mail_from="a@example.org", rcpt_tos=[inbound_address(tenant)], raw=raw
    ).messages
    assert (row.status == InboundMessage.Status.BLOCKED) is blocked
    if blocked:
        assert "InboundSpamThreshold of 5" in row.blocked_reason


@pytest.mark.parametrize(
    "rule", ["spammer@example.org", "example.org", "bulk.example.net"]
)
def test_inbound_rules_block_a_sender_address_or_domain(tenant, rule):
    InboundRule.objects.create(server=tenant.server, rule=rule)
    (row,) = inbound_receive(
        mail_from="bounce@bulk.example.net",  # envelope sender counts too
        rcpt_tos=[inbound_address(tenant)],
        raw=simple_eml(sender="spammer@example.org", to=inbound_address(tenant)),
    ).messages
    assert row.status == InboundMessage.Status.BLOCKED
    assert rule in row.blocked_reason


def test_another_servers_rule_does_not_block(tenant, other_tenant):
    InboundRule.objects.create(server=other_tenant.server, rule="example.org")
    (row,) = inbound_receive(
        mail_from="a@example.org",
        rcpt_tos=[inbound_address(tenant)],
        raw=simple_eml(to=inbound_address(tenant)),
    ).messages
    assert row.status != InboundMessage.Status.BLOCKED


def test_a_mixed_transaction_records_the_bounce_and_the_inbound_message(tenant):
    message = send(tenant)
    row = message.recipients.get()
    report = report_for(
        "postfix_user_unknown.eml", message=message, fixture_rcpt="bob@example.net"
    )
    reply = mx_receive(
        mail_from="",
        rcpt_tos=[verp_for(row), inbound_address(tenant)],
        inbound_rcpts=[inbound_address(tenant)],
        raw=report,
    )
    assert reply.startswith("250 ")
    assert Bounce.objects.filter(email="bob@example.net").count() == 1
    assert InboundMessage.objects.filter(server=tenant.server).count() == 1


# --- Over a real socket ---------------------------------------------------------------


@pytest.fixture
def mx():
    controller = bounce_mx_controller(host="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.mark.django_db(transaction=True)
def test_over_smtp_inbound_mail_is_stored_before_250_and_strangers_refused(tenant, mx):
    address = inbound_address(tenant, "order-9")
    with smtplib.SMTP("127.0.0.1", mx.port, timeout=10) as client:
        client.ehlo("mail.example.org")
        client.mail("ana@example.org")
        code, text = client.rcpt(f"deadbeef@{settings.INBOUND_ADDRESS_DOMAIN}")
        assert code == 550 and text.startswith(b"5.1.1")
        code, _ = client.rcpt(address)
        assert code == 250
        code, text = client.data(simple_eml(to=address, subject="Order 9"))
        assert code == 250
        # Committed before the 250 went out.
        row = InboundMessage.objects.get(server=tenant.server)
        assert str(row.message_id).encode() in text
    assert row.subject == "Order 9"
    assert row.mailbox_hash == "order-9"
    assert row.mail_from == "ana@example.org"


@pytest.mark.django_db(transaction=True)
def test_over_smtp_a_big_message_is_fine_for_inbound_but_not_for_a_bounce(tenant, mx):
    big = simple_eml(to=inbound_address(tenant), body=("x" * 76 + "\n") * (150 * 1024))
    row = send(tenant).recipients.get()
    with smtplib.SMTP("127.0.0.1", mx.port, timeout=30) as client:
        client.ehlo("mx1.example.net")
        client.mail("")
        client.rcpt(verp_for(row))
        code, text = client.data(big)
        assert code == 552, text
    with smtplib.SMTP("127.0.0.1", mx.port, timeout=30) as client:
        client.ehlo("mail.example.org")
        client.mail("ana@example.org")
        client.rcpt(inbound_address(tenant))
        code, _ = client.data(big)
        assert code == 250
    assert InboundMessage.objects.get().size > 11 * 1024 * 1024
