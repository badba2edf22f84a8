"""At SMTP, skipped inactive recipients become SMTPApiError records."""

from __future__ import annotations

import pytest

from bounces.models import Bounce
from bounces.services import bounce_record, smtp_api_error_record
from messages.email import OutboundEmail
from messages.models import Recipient
from messages.services import message_send
from postmark_clone.errors import ApplicationError

from .helpers import send

pytestmark = pytest.mark.django_db


def smtp_email(tenant, recipients):
    raw = (
        f"From: {tenant.sender}\r\nTo: {', '.join(recipients)}\r\nSubject: t\r\n\r\nhi\r\n"
    ).encode()
    return OutboundEmail(
        from_header=tenant.sender, raw=raw, envelope_recipients=recipients
    )


def deactivate(tenant, address):
    bounce_record(
        server=tenant.server,
        message=send(tenant, to=address),
        email=address,
        bounce_type="HardBounce",
    )


def test_a_partly_inactive_smtp_send_records_an_smtp_api_error_per_address(tenant):
    deactivate(tenant, "dead@example.org")
    result = message_send(
        server=tenant.server,
        email=smtp_email(tenant, ["live@example.org", "dead@example.org"]),
    )
    error = Bounce.objects.get(type="SMTPApiError")
    assert error.email == "dead@example.org"
    assert str(error.message_uuid) == result.message_id
    assert error.type_code == 100007
    assert error.details.startswith("Message OK, but will not deliver")
    assert (
        Recipient.objects.get(
            email="dead@example.org", message__message_id=result.message_id
        ).status
        == "suppressed"
    )


def test_an_all_inactive_smtp_send_raises_406_for_the_edge_to_record(tenant):
    deactivate(tenant, "dead@example.org")
    with pytest.raises(ApplicationError) as excinfo:
        message_send(
            server=tenant.server, email=smtp_email(tenant, ["dead@example.org"])
        )
    assert excinfo.value.code == 406
    # What the SMTP edge does with it: an SMTPApiError without a stored message.
    (error,) = smtp_api_error_record(
        server=tenant.server, emails=["dead@example.org"], error=excinfo.value.message
    )
    assert (error.type, error.message_id, error.inactive) == (
        "SMTPApiError",
        None,
        False,
    )
