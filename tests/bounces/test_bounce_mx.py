"""The bounce MX: which RCPTs it accepts and how reports map to recipients.

The synchronous core is tested directly; a few tests go over a real socket with
smtplib against the aiosmtpd server on an ephemeral port."""

from __future__ import annotations

import smtplib

import pytest
from django.conf import settings
from django.test import override_settings

from bounces.bounce_mx import bounce_mx_controller
from bounces.models import Bounce, Suppression, UnmatchedReport
from bounces.reports import bounce_mx_rcpt_verdict, bounce_mx_receive
from messages.archive import archive_get
from messages.models import Recipient
from messages.verp import verp_encode

from .helpers import fixture_bytes, report_for, send, verp_for

FBL = "fbl@bounces.localhost"


def forged(address: str) -> str:
    """The same VERP with one signature character changed."""
    local, _, domain = address.partition("@")
    head, _, signature = local.rpartition(".")
    flipped = ("b" if signature[0] != "b" else "c") + signature[1:]
    return f"{head}.{flipped}@{domain}"


# --- RCPT ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_accepts_a_validly_signed_verp_of_our_return_path_domain(tenant):
    row = send(tenant).recipients.get()
    assert bounce_mx_rcpt_verdict(verp_for(row)) is None
    # MTAs may change the case of the local part.
    assert bounce_mx_rcpt_verdict(verp_for(row).upper()) is None


@pytest.mark.django_db
def test_it_refuses_a_forged_verp_with_550_5_1_1(tenant):
    row = send(tenant).recipients.get()
    verdict = bounce_mx_rcpt_verdict(forged(verp_for(row)))
    assert verdict is not None and verdict.startswith("550 5.1.1 ")


@pytest.mark.django_db
def test_it_refuses_a_valid_verp_at_a_domain_that_is_not_ours(tenant):
    row = send(tenant).recipients.get()
    address = verp_encode(recipient_id=row.id, domain="evil.example")
    assert bounce_mx_rcpt_verdict(address).startswith("550 5.1.1 ")


@pytest.mark.django_db
def test_a_tenant_return_path_domain_is_ours_too(tenant):
    tenant.domain.return_path_domain = "pm-bounces.acme.example.com"
    tenant.domain.save()
    row = send(tenant).recipients.get()
    address = verp_encode(recipient_id=row.id, domain="pm-bounces.acme.example.com")
    assert bounce_mx_rcpt_verdict(address) is None


@pytest.mark.django_db
def test_plain_addresses_are_refused_unless_they_are_the_operator_fbl():
    assert bounce_mx_rcpt_verdict("postmaster@bounces.localhost").startswith("550")
    assert bounce_mx_rcpt_verdict(FBL).startswith("550")
    with override_settings(BOUNCE_MX_FBL_ADDRESSES=[FBL]):
        assert bounce_mx_rcpt_verdict(FBL.upper()) is None


# --- DATA -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,fixture_rcpt,expected",
    [
        ("postfix_user_unknown.eml", "bob@example.net", "HardBounce"),
        ("postfix_mailbox_full.eml", "carol@example.net", "SoftBounce"),
        ("postfix_blocked_spamhaus.eml", "dave@example.org", "Blocked"),
        ("postfix_dns_error.eml", "erin@nowhere.invalid", "HardBounce"),
        ("exim_dsn.eml", "grace@example.com", "HardBounce"),
        ("exchange_dsn.eml", "ivan@contoso.com", "HardBounce"),
        ("gmail_user_unknown.eml", "kate.doesnotexist@gmail.com", "HardBounce"),
        ("qmail.eml", "leo@example.info", "HardBounce"),
        ("arf_yahoo.eml", "nina@yahoo.example", "SpamComplaint"),
        ("out_of_office_rfc3834.eml", "peggy@example.com", "AutoResponder"),
    ],
)
def test_a_report_at_a_verp_address_bounces_that_exact_recipient(
    tenant, name, fixture_rcpt, expected
):
    message = send(tenant, to=f"{fixture_rcpt}, someone.else@example.org")
    row = message.recipients.get(email=fixture_rcpt)
    raw = report_for(name, message=message, fixture_rcpt=fixture_rcpt, row=row)
    reply = bounce_mx_receive(mail_from="", rcpt_tos=[verp_for(row)], raw=raw)
    assert reply.startswith("250 ")
    bounce = Bounce.objects.get()
    assert (bounce.server, bounce.message, bounce.email, bounce.type) == (
        tenant.server,
        message,
        fixture_rcpt,
        expected,
    )
    assert archive_get(key=bounce.dump_key) == raw
    # The other recipient of the same message is untouched.
    other = message.recipients.get(email="someone.else@example.org")
    assert other.status == Recipient.Status.QUEUED


@pytest.mark.django_db
def test_a_forwarded_address_in_the_dsn_still_bounces_the_verp_recipient(tenant):
    message = send(tenant, to="alias@example.org")
    row = message.recipients.get()
    raw = report_for(
        "postfix_user_unknown.eml", message=message, fixture_rcpt="nobody", row=row
    )  # the report names bob@example.net, our row is alias@example.org
    bounce_mx_receive(mail_from="", rcpt_tos=[verp_for(row)], raw=raw)
    assert Bounce.objects.get().email == "alias@example.org"
    assert Suppression.objects.get().email == "alias@example.org"


@pytest.mark.django_db
@override_settings(BOUNCE_MX_FBL_ADDRESSES=[FBL])
@pytest.mark.parametrize("name", ["arf_yahoo.eml", "arf_headers_only.eml"])
def test_an_arf_report_at_the_fbl_address_is_matched_by_our_message_id(tenant, name):
    rcpt = "nina@yahoo.example" if name == "arf_yahoo.eml" else "oscar@isp.example"
    message = send(tenant, to=rcpt)
    raw = report_for(name, message=message, fixture_rcpt=rcpt)
    # Without the VERP in the report, only X-PM-Message-Id ties it to us.
    raw = raw.replace(verp_for(message.recipients.get()).encode(), b"x@example.org")
    bounce_mx_receive(mail_from="", rcpt_tos=[FBL], raw=raw)
    bounce = Bounce.objects.get()
    assert (bounce.type, bounce.email, bounce.message) == (
        "SpamComplaint",
        rcpt,
        message,
    )
    assert bounce.inactive is True and bounce.can_activate is False


@pytest.mark.django_db
@override_settings(BOUNCE_MX_FBL_ADDRESSES=[FBL])
def test_a_forged_complaint_for_a_non_recipient_of_the_message_is_not_recorded(tenant):
    message = send(tenant, to="nina@yahoo.example, second@example.org")
    row = message.recipients.get(email="nina@yahoo.example")
    raw = report_for(
        "arf_yahoo.eml", message=message, fixture_rcpt="nina@yahoo.example", row=row
    )
    raw = raw.replace(verp_for(row).encode(), b"x@example.org")
    raw = raw.replace(b"nina@yahoo.example", b"victim@example.org")
    bounce_mx_receive(mail_from="", rcpt_tos=[FBL], raw=raw)
    assert Bounce.objects.count() == 0
    assert UnmatchedReport.objects.get().email == "victim@example.org"


@pytest.mark.django_db
@override_settings(BOUNCE_MX_FBL_ADDRESSES=[FBL])
def test_a_report_about_a_message_we_never_sent_is_kept_for_the_operator():
    raw = fixture_bytes("arf_yahoo.eml").replace(
        b"b.1a.abcdefghij", b"b.zz.nosignature"
    )
    reply = bounce_mx_receive(mail_from="", rcpt_tos=[FBL], raw=raw)
    assert reply.startswith("250 ")
    kept = UnmatchedReport.objects.get()
    assert (kept.source, kept.kind, kept.bounce_type) == (
        "bounce_mx",
        "arf",
        "SpamComplaint",
    )
    assert kept.email == "nina@yahoo.example"
    assert kept.original_message_id == "0a7e3c6e-2f4b-4a57-9a43-6a2f4e1c9d10"
    assert archive_get(key=kept.dump_key) == raw
    assert Bounce.objects.count() == 0


@pytest.mark.django_db
def test_a_human_reply_to_the_return_path_is_kept_not_recorded(tenant):
    message = send(tenant)
    row = message.recipients.get()
    raw = fixture_bytes("not_a_bounce.eml")
    bounce_mx_receive(mail_from="rachel@example.com", rcpt_tos=[verp_for(row)], raw=raw)
    assert Bounce.objects.count() == 0
    assert (
        UnmatchedReport.objects.get().reason == "not a recognisable bounce or complaint"
    )


@pytest.mark.django_db
def test_a_success_dsn_records_nothing(tenant):
    message = send(tenant)
    row = message.recipients.get()
    raw = report_for(
        "postfix_user_unknown.eml", message=message, fixture_rcpt="bob@example.net"
    )
    raw = raw.replace(b"Action: failed", b"Action: delivered")
    reply = bounce_mx_receive(mail_from="", rcpt_tos=[verp_for(row)], raw=raw)
    assert "Nothing to record" in reply
    assert Bounce.objects.count() == 0 and UnmatchedReport.objects.count() == 0


# --- Over a real socket ------------------------------------------------------------------


@pytest.fixture
def bounce_mx():
    controller = bounce_mx_controller(host="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.mark.django_db(transaction=True)
def test_over_smtp_a_forged_verp_is_refused_and_a_real_one_recorded(tenant, bounce_mx):
    message = send(tenant)
    row = message.recipients.get()
    raw = report_for(
        "postfix_user_unknown.eml", message=message, fixture_rcpt="bob@example.net"
    ).replace(b"\n", b"\r\n")  # on the wire, lines end in CRLF (RFC 5321)
    with smtplib.SMTP("127.0.0.1", bounce_mx.port, timeout=10) as client:
        client.ehlo("mx1.example.net")
        client.mail("<>")
        code, text = client.rcpt(forged(verp_for(row)))
        assert code == 550 and text.startswith(b"5.1.1")
        code, _ = client.rcpt("postmaster@" + settings.DEFAULT_RETURN_PATH_DOMAIN)
        assert code == 550
        code, _ = client.rcpt(verp_for(row))
        assert code == 250
        code, text = client.data(raw)
        assert code == 250, text
    bounce = Bounce.objects.get()
    assert (bounce.email, bounce.type, bounce.message_id) == (
        "bob@example.net",
        "HardBounce",
        message.id,
    )
    assert Suppression.objects.filter(email="bob@example.net").exists()


@pytest.mark.django_db(transaction=True)
def test_over_smtp_a_message_with_only_forged_recipients_gets_no_data(
    tenant, bounce_mx
):
    row = send(tenant).recipients.get()
    with smtplib.SMTP("127.0.0.1", bounce_mx.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as excinfo:
            client.sendmail(
                "", [forged(verp_for(row))], b"Subject: x\r\n\r\nforged\r\n"
            )
    ((code, text),) = excinfo.value.recipients.values()
    assert code == 550 and text.startswith(b"5.1.1")
    assert Bounce.objects.count() == 0
