"""Bounce testing: mail to <Type>@bounce-testing domain, or X-PM-Bounce-Type,
bounces at once with that type and its webhook; nothing is delivered."""

from __future__ import annotations

import pytest
from django.test import override_settings

from bounces.models import Bounce
from bounces.services import bounce_testing_type
from messages.archive import archive_get
from messages.email import OutboundEmail
from messages.models import Message, Recipient
from messages.services import message_send
from smtp_ingest.core import parse_submission

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "address,expected",
    [
        ("HardBounce@bounce-testing.localhost", "HardBounce"),
        ("softbounce@BOUNCE-TESTING.localhost", "SoftBounce"),
        ("soft_bounce@bounce-testing.localhost", "SoftBounce"),
        ("dns_error@bounce-testing.postmarkapp.com", "DnsError"),
        ("Transient@bounce-testing.postmarkapp.com", "Transient"),
        ("auto-responder@bounce-testing.localhost", "AutoResponder"),
        ("blocked@bounce-testing.localhost", "Blocked"),
        ("whatever@bounce-testing.localhost", "HardBounce"),
        # Postmark does not simulate complaints through the test domain.
        ("SpamComplaint@bounce-testing.localhost", "HardBounce"),
        ("HardBounce@example.org", None),
    ],
)
def test_the_test_address_names_the_bounce_type(address, expected):
    assert bounce_testing_type(address=address) == expected


@override_settings(BOUNCE_TESTING_DOMAIN="bounces.test.example")
def test_the_test_domain_is_configurable():
    assert (
        bounce_testing_type(address="SoftBounce@bounces.test.example") == "SoftBounce"
    )
    assert bounce_testing_type(address="SoftBounce@bounce-testing.localhost") is None


def test_a_send_to_a_test_address_bounces_at_once_without_delivery(
    api, tenant, emitted
):
    response = api.send_json(
        "POST",
        "/email",
        {
            "From": tenant.sender,
            "To": "SoftBounce@bounce-testing.localhost, real@example.org",
            "Subject": "Test",
            "TextBody": "x",
            "Tag": "bt",
        },
        **tenant.server_headers,
    )
    assert response.status_code == 200
    assert response.json()["ErrorCode"] == 0
    message = Message.objects.get(message_id=response.json()["MessageID"])
    statuses = dict(message.recipients.values_list("email", "status"))
    assert statuses == {
        "SoftBounce@bounce-testing.localhost": Recipient.Status.TEST,
        "real@example.org": Recipient.Status.QUEUED,
    }
    bounce = Bounce.objects.get()
    assert (bounce.type, bounce.email, bounce.message, bounce.tag) == (
        "SoftBounce",
        "SoftBounce@bounce-testing.localhost",
        message,
        "bt",
    )
    assert b"Status: 4.2.2" in archive_get(key=bounce.dump_key)
    (call,) = emitted
    assert call["record_type"] == "Bounce"
    assert call["payload"]["Type"] == "SoftBounce"
    assert call["payload"]["MessageID"] == str(message.message_id)
    # It shows up in the bounce API right away.
    listed = api.send_json(
        "GET", "/bounces?count=10&offset=0&type=SoftBounce", **tenant.server_headers
    ).json()
    assert listed["TotalCount"] == 1


def test_the_header_bounces_every_recipient_with_that_type(api, tenant, emitted):
    response = api.send_json(
        "POST",
        "/email",
        {
            "From": tenant.sender,
            "To": "a@example.org",
            "Cc": "b@example.org",
            "Subject": "Test",
            "TextBody": "x",
            "Headers": [{"Name": "X-PM-Bounce-Type", "Value": "DnsError"}],
        },
        **tenant.server_headers,
    )
    message = Message.objects.get(message_id=response.json()["MessageID"])
    assert set(message.recipients.values_list("status", flat=True)) == {"test"}
    assert message.status == Message.Status.SENT  # nothing left to deliver
    assert sorted(Bounce.objects.values_list("email", "type")) == [
        ("a@example.org", "DnsError"),
        ("b@example.org", "DnsError"),
    ]
    assert len(emitted) == 2


def test_a_test_hard_bounce_makes_the_address_inactive_like_a_real_one(api, tenant):
    body = {
        "From": tenant.sender,
        "To": "HardBounce@bounce-testing.localhost",
        "Subject": "Test",
        "TextBody": "x",
    }
    first = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert first.json()["ErrorCode"] == 0
    second = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert second.json()["ErrorCode"] == 406


def test_smtp_submissions_use_the_bounce_type_read_by_the_smtp_edge(tenant):
    raw = (
        f"From: {tenant.sender}\r\nTo: x@example.org\r\nSubject: t\r\n"
        "X-PM-Bounce-Type: Blocked\r\n\r\nbody\r\n"
    ).encode()
    parsed = parse_submission(data=raw, envelope_recipients=["x@example.org"])
    assert b"X-PM-Bounce-Type" not in parsed.email.raw  # a control header, stripped
    result = message_send(server=tenant.server, email=parsed.email)
    bounce = Bounce.objects.get()
    assert (bounce.type, str(bounce.message_uuid)) == ("Blocked", result.message_id)
    bounce.delete()
    message_send(
        server=tenant.server,
        email=OutboundEmail(
            from_header=tenant.sender,
            raw=raw.replace(b"X-PM-Bounce-Type: Blocked\r\n", b""),
            envelope_recipients=["y@example.org"],
            bounce_type="Transient",
        ),
    )
    assert Bounce.objects.get().type == "Transient"
