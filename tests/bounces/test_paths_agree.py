"""One classifier: the same failure text gets the same verdict whether it comes
back as a DSN at the bounce MX (or through ``parse_bounce``), as a pool or
SendGrid webhook event, or as a synchronous SMTP rejection during delivery."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.management import call_command
from django.test import override_settings

from api.views.pool_webhooks import pool_signature
from bounces.models import Bounce, Suppression
from bounces.reports import bounce_mx_receive
from bounces.services import bounce_record

from .helpers import send, verp_for

pytestmark = pytest.mark.django_db
SECRET = "paths-secret"

FAILURES = [
    # (status, SMTP reply, expected type, suppressed)
    (
        "5.1.1",
        "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
        "HardBounce",
        True,
    ),
    (
        "5.7.1",
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        "Blocked",
        False,
    ),
    ("5.2.2", "552 5.2.2 Mailbox full", "SoftBounce", False),
    (
        "5.1.2",
        "550 5.1.2 Host unknown (Name server: nowhere.example: host not found)",
        "HardBounce",
        True,
    ),
    (
        "5.7.26",
        "550 5.7.26 Unauthenticated email is not accepted due to DMARC policy",
        "DMARCPolicy",
        False,
    ),
]


def dsn_for(rcpt: str, status: str, reply: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: b@bounces.localhost\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered."
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {reply}\r\n--B--\r\n"
    ).encode()


def post_signed(client, payload):
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    return client.generic(
        "POST",
        "/webhooks/bounce",
        body,
        content_type="application/json",
        HTTP_X_POOL_ROUTE="pool-a",
        HTTP_X_POOL_TIMESTAMP=timestamp,
        HTTP_X_POOL_SIGNATURE=pool_signature(
            secret=SECRET, timestamp=timestamp, body=body
        ),
    )


@override_settings(POOL_WEBHOOK_SECRETS={"pool-a": SECRET})
@pytest.mark.parametrize("status,reply,expected,suppressed", FAILURES)
def test_every_path_gives_the_same_verdict(
    api, tenant, status, reply, expected, suppressed
):
    types = {}
    # 1. parse_bounce (no database) on the DSN.
    rcpt = "pat@example.net"
    out = io.StringIO()
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".eml") as handle:
        handle.write(dsn_for(rcpt, status, reply.format(rcpt=rcpt)))
        handle.flush()
        call_command("parse_bounce", handle.name, stdout=out)
    verdict = json.loads(out.getvalue())
    types["parse_bounce"] = (verdict["Type"], verdict["Suppress"])

    # 2. The bounce MX, at the signed VERP address.
    message = send(tenant, to="mx@example.net")
    row = message.recipients.get()
    raw = dsn_for(row.email, status, reply.format(rcpt=row.email))
    assert bounce_mx_receive(
        mail_from="", rcpt_tos=[verp_for(row)], raw=raw
    ).startswith("250 ")
    bounce = Bounce.objects.get(email=row.email)
    types["bounce_mx"] = (bounce.type, bounce.inactive)
    reasons = {"parse_bounce": verdict["Reason"], "bounce_mx": bounce.reason}

    # 3. Our pool webhook JSON.
    message = send(tenant, to="pool@example.net")
    response = post_signed(
        api,
        {
            "MessageID": str(message.message_id),
            "Email": "pool@example.net",
            "Status": status,
            "Diagnostic": f"smtp; {reply.format(rcpt='pool@example.net')}",
        },
    )
    assert response.json()["Recorded"] == 1, response.content
    bounce = Bounce.objects.get(email="pool@example.net")
    types["pool_webhook"] = (bounce.type, bounce.inactive)
    reasons["pool_webhook"] = bounce.reason

    # 4. A SendGrid Event Webhook "bounce" event.
    message = send(tenant, to="grid@example.net")
    response = post_signed(
        api,
        [
            {
                "email": "grid@example.net",
                "event": "bounce",
                "type": "bounce",
                "status": status,
                "reason": reply.format(rcpt="grid@example.net"),
                "MessageID": str(message.message_id),
                "timestamp": int(time.time()),
            }
        ],
    )
    assert response.json()["Recorded"] == 1, response.content
    bounce = Bounce.objects.get(email="grid@example.net")
    types["sendgrid"] = (bounce.type, bounce.inactive)
    reasons["sendgrid"] = bounce.reason

    # 5. A synchronous rejection during delivery (what the worker records).
    message = send(tenant, to="sync@example.net")
    bounce = bounce_record(
        server=tenant.server,
        message=message,
        email="sync@example.net",
        smtp_status=reply[:3],
        diagnostic=reply.format(rcpt="sync@example.net"),
    )
    types["delivery"] = (bounce.type, bounce.inactive)
    reasons["delivery"] = bounce.reason

    assert set(types.values()) == {(expected, suppressed)}, types
    assert len(set(reasons.values())) == 1 and "" not in reasons.values(), reasons
    assert Suppression.objects.filter(server=tenant.server).count() == (
        4 if suppressed else 0
    )


@override_settings(POOL_WEBHOOK_SECRETS={"pool-a": SECRET})
def test_sendgrid_blocked_deferred_and_spamreport_events(api, tenant):
    message = send(tenant, to="a@example.net, b@example.net, c@example.net")
    mid = str(message.message_id)
    response = post_signed(
        api,
        [
            {
                "email": "a@example.net",
                "event": "bounce",
                "type": "blocked",
                "reason": "550 Rejected",
                "status": "5.0.0",
                "MessageID": mid,
            },
            {
                "email": "b@example.net",
                "event": "deferred",
                "response": "421 try again later",
                "MessageID": mid,
            },
            {"email": "c@example.net", "event": "spamreport", "MessageID": mid},
            {"email": "c@example.net", "event": "open", "MessageID": mid},
        ],
    )
    assert response.json()["Recorded"] == 3, response.content
    got = dict(Bounce.objects.values_list("email", "type"))
    assert got == {
        "a@example.net": "Blocked",
        "b@example.net": "Transient",
        "c@example.net": "SpamComplaint",
    }
    assert list(Suppression.objects.values_list("email", flat=True)) == [
        "c@example.net"
    ]


@override_settings(POOL_WEBHOOK_SECRETS={"pool-a": SECRET})
def test_another_tenants_message_id_is_not_matched_by_address(
    api, tenant, other_tenant
):
    message = send(other_tenant, to="x@example.net")
    response = post_signed(
        api,
        [
            {
                "email": "someone@example.net",
                "event": "bounce",
                "status": "5.1.1",
                "reason": "550 5.1.1 user unknown",
                "MessageID": str(message.message_id),
            }
        ],
    )
    assert response.json() | {"BounceIDs": []} == {
        "ErrorCode": 0,
        "Message": "OK",
        "Recorded": 0,
        "BounceIDs": [],
        "Unmatched": 1,
    }
    assert not Bounce.objects.exists()
