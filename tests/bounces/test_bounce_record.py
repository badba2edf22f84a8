"""bounce_record: what each bounce type does to the address, the message and
the recipient row."""

from __future__ import annotations

import pytest

from bounces.models import Bounce, Suppression
from bounces.services import bounce_activate, bounce_record
from messages.archive import archive_get
from messages.models import MessageEvent, Recipient
from postmark_clone.errors import ApplicationError

from .helpers import send

pytestmark = pytest.mark.django_db


def record(message, bounce_type, **kwargs):
    row = message.recipients.get()
    return bounce_record(
        server=message.server,
        message=message,
        email=row.email,
        bounce_type=bounce_type,
        **kwargs,
    )


def test_a_hard_bounce_suppresses_the_address_on_the_message_stream(tenant):
    message = send(tenant, to="Bob@Example.net")
    bounce = record(message, "HardBounce", diagnostic="550 5.1.1 User unknown")
    assert bounce.inactive is True and bounce.can_activate is True
    assert bounce.type_code == 1
    assert bounce.description.startswith("The server was unable to deliver")
    assert bounce.details == "550 5.1.1 User unknown"
    row = Suppression.objects.get(server=tenant.server)
    assert (row.message_stream, row.email, row.reason, row.origin) == (
        "outbound",
        "bob@example.net",
        "HardBounce",
        "Recipient",
    )
    assert message.recipients.get().status == Recipient.Status.BOUNCED
    event = MessageEvent.objects.get(message=message)
    assert event.type == "Bounced" and event.details["BounceID"] == str(bounce.id)


def test_a_spam_complaint_suppresses_for_good(tenant):
    message = send(tenant)
    bounce = record(message, "SpamComplaint")
    assert bounce.inactive is True and bounce.can_activate is False
    assert Suppression.objects.get().reason == "SpamComplaint"
    with pytest.raises(ApplicationError) as excinfo:
        bounce_activate(server=tenant.server, bounce_id=bounce.id)
    assert excinfo.value.code == 1003
    assert Suppression.objects.count() == 1


@pytest.mark.parametrize(
    "bounce_type", ["Blocked", "SoftBounce", "Transient", "DnsError", "Unknown"]
)
def test_other_types_never_make_the_address_inactive(tenant, bounce_type):
    message = send(tenant)
    bounce = record(message, bounce_type)
    assert bounce.inactive is False
    assert Suppression.objects.count() == 0


def test_an_auto_reply_is_recorded_but_neither_deactivates_nor_bounces(tenant):
    message = send(tenant)
    Recipient.objects.filter(message=message).update(status=Recipient.Status.SENDING)
    bounce = record(message, "AutoResponder", origin="bounce_mx")
    assert bounce.type_code == 64 and bounce.inactive is False
    assert Suppression.objects.count() == 0
    assert message.recipients.get().status == Recipient.Status.SENDING
    assert not MessageEvent.objects.filter(message=message).exists()


def test_a_delayed_dsn_from_the_mx_does_not_finish_the_recipient(tenant):
    message = send(tenant)
    record(message, "Transient", origin="bounce_mx")
    assert message.recipients.get().status == Recipient.Status.QUEUED
    assert MessageEvent.objects.get(message=message).type == "Transient"


def test_it_classifies_when_no_type_is_given(tenant):
    message = send(tenant)
    bounce = record(
        message, None, smtp_status="5.2.2", diagnostic="552 5.2.2 Mailbox full"
    )
    assert bounce.type == "SoftBounce"


def test_the_raw_report_is_archived_and_readable(tenant):
    message = send(tenant)
    bounce = record(message, "HardBounce", raw_report=b"Subject: DSN\r\n\r\nraw report")
    assert bounce.dump_key.startswith(f"bounces/{tenant.server.id}/")
    assert archive_get(key=bounce.dump_key) == b"Subject: DSN\r\n\r\nraw report"


def test_a_complaint_upgrades_a_manual_suppression_so_it_cannot_be_deleted(tenant):
    message = send(tenant)
    Suppression.objects.create(
        server=tenant.server,
        message_stream="outbound",
        email="bob@example.net",
        reason="ManualSuppression",
        origin="Customer",
    )
    record(message, "SpamComplaint")
    assert Suppression.objects.get().reason == "SpamComplaint"


def test_it_queues_the_tenant_webhook_with_postmarks_payload(tenant, emitted):
    message = send(tenant, tag="receipts", metadata={"order": "42"})
    bounce = record(message, "HardBounce", diagnostic="550 5.1.1 User unknown")
    (call,) = emitted
    assert call["server"] == tenant.server
    assert call["message_stream"] == "outbound"
    assert call["record_type"] == "Bounce"
    payload = call["payload"]
    assert payload["ID"] == bounce.id
    assert payload["Type"] == "HardBounce" and payload["TypeCode"] == 1
    assert payload["Name"] == "Hard bounce"
    assert payload["MessageID"] == str(message.message_id)
    assert payload["Email"] == "bob@example.net"
    assert payload["Tag"] == "receipts"
    assert payload["Metadata"] == {"order": "42"}
    assert payload["Inactive"] is True and payload["CanActivate"] is True
    assert payload["ServerID"] == tenant.server.id
    for key in (
        "Description",
        "Details",
        "From",
        "BouncedAt",
        "DumpAvailable",
        "Subject",
    ):
        assert key in payload


def test_a_complaint_is_emitted_as_a_spam_complaint_record(tenant, emitted):
    record(send(tenant), "SpamComplaint")
    assert emitted[0]["record_type"] == "SpamComplaint"
    assert emitted[0]["payload"]["RecordType"] == "SpamComplaint"
    assert emitted[0]["payload"]["TypeCode"] == 100001


def test_smtp_api_errors_reach_bounce_hooks_only_when_the_server_asks(tenant, emitted):
    bounce_record(
        server=tenant.server,
        message=None,
        email="x@example.org",
        bounce_type="SMTPApiError",
        details="You tried to send to recipient(s) that have been marked as inactive.",
        message_stream="broadcast",
        origin="smtp_api",
    )
    assert emitted == []
    tenant.server.enable_smtp_api_error_hooks = True
    bounce_record(
        server=tenant.server,
        message=None,
        email="x@example.org",
        bounce_type="SMTPApiError",
        message_stream="broadcast",
        origin="smtp_api",
    )
    assert emitted[0]["message_stream"] == "broadcast"
    assert (
        Bounce.objects.filter(type="SMTPApiError", message_stream="broadcast").count()
        == 2
    )


def test_activation_removes_the_suppression_and_is_safe_twice(tenant):
    bounce = record(send(tenant), "HardBounce")
    bounce_activate(server=tenant.server, bounce_id=bounce.id)
    bounce_activate(server=tenant.server, bounce_id=bounce.id)
    bounce.refresh_from_db()
    assert bounce.inactive is False
    assert Suppression.objects.count() == 0


def test_activation_of_another_tenants_bounce_is_not_found(tenant, other_tenant):
    bounce = record(send(tenant), "HardBounce")
    with pytest.raises(ApplicationError) as excinfo:
        bounce_activate(server=other_tenant.server, bounce_id=bounce.id)
    assert excinfo.value.code == 1001
