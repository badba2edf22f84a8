from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils.dateparse import parse_datetime

from webhooks.payloads import payload_bounce, payload_delivery, payload_spam_complaint

from .builders import bounce_for, sent_message

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 11, 23, 9, 30, 1, 123456, tzinfo=UTC)


def test_delivery_payload_has_postmarks_fields(tenant):
    message = sent_message(tenant)
    payload = payload_delivery(message, "john@example.com", "250 2.0.0 OK", WHEN)
    assert payload == {
        "RecordType": "Delivery",
        "ServerID": tenant.server.id,
        "MessageStream": "outbound",
        "MessageID": str(message.message_id),
        "Recipient": "john@example.com",
        "Tag": "receipts",
        "DeliveredAt": "2026-11-23T09:30:01.123456Z",
        "Details": "250 2.0.0 OK",
        "Metadata": {"order": "42"},
    }
    assert parse_datetime(payload["DeliveredAt"]) == WHEN


def test_bounce_payload_has_postmarks_fields(tenant):
    message = sent_message(tenant)
    bounce = bounce_for(message, "HardBounce", WHEN, inactive=True, dump_key="k")
    payload = payload_bounce(bounce)
    assert payload == {
        "RecordType": "Bounce",
        "ID": bounce.id,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "receipts",
        "MessageID": str(message.message_id),
        "ServerID": tenant.server.id,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message "
        "(ex: unknown user, mailbox not found).",
        "Details": "smtp; 550 5.1.1 user unknown",
        "Email": "john@example.com",
        "From": f"Acme <{tenant.sender}>",
        "BouncedAt": "2026-11-23T09:30:01.123456Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Your receipt",
        "Metadata": {"order": "42"},
    }
    assert payload_bounce(bounce, "raw report")["Content"] == "raw report"


def test_spam_complaint_payload(tenant):
    message = sent_message(tenant)
    bounce = bounce_for(
        message, "SpamComplaint", WHEN, inactive=True, can_activate=False
    )
    payload = payload_spam_complaint(bounce, "ARF report")
    assert payload["RecordType"] == "SpamComplaint"
    assert payload["Type"] == "SpamComplaint"
    assert payload["TypeCode"] == 100001
    assert payload["Inactive"] is True and payload["CanActivate"] is False
    assert payload["Content"] == "ARF report"


def test_a_bounce_without_a_message_still_has_every_key(tenant):
    message = sent_message(tenant)
    bounce = bounce_for(message, "SoftBounce", WHEN)
    bounce.message = None
    bounce.message_uuid = None
    payload = payload_bounce(bounce)
    assert payload["MessageID"] == "" and payload["Metadata"] == {}
    assert payload["Name"] == "Soft bounce"
