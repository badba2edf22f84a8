"""Raw reports from several MTAs parse into the recipient, status and ids."""

from __future__ import annotations

import pytest

from bounces import classify, dsn

from .helpers import FIXTURE_MESSAGE_ID, FIXTURE_VERP, fixture_bytes

CASES = [
    # file, kind, mta, email, status, type
    (
        "postfix_user_unknown.eml",
        "dsn",
        "Postfix",
        "bob@example.net",
        "5.1.1",
        "HardBounce",
    ),
    (
        "postfix_mailbox_full.eml",
        "dsn",
        "Postfix",
        "carol@example.net",
        "5.2.2",
        "SoftBounce",
    ),
    (
        "postfix_blocked_spamhaus.eml",
        "dsn",
        "Postfix",
        "dave@example.org",
        "5.7.1",
        "Blocked",
    ),
    (
        "postfix_dns_error.eml",
        "dsn",
        "Postfix",
        "erin@nowhere.invalid",
        "5.4.4",
        "HardBounce",  # host_unknown: the domain does not exist
    ),
    (
        "postfix_delayed.eml",
        "dsn",
        "Postfix",
        "frank@example.net",
        "4.4.1",
        "Transient",
    ),
    ("exim_dsn.eml", "dsn", "Exim", "grace@example.com", "5.0.0", "HardBounce"),
    ("exim_plain.eml", "bounce", "Exim", "heidi@example.com", "5.1.1", "HardBounce"),
    (
        "exchange_dsn.eml",
        "dsn",
        "Office 365",
        "ivan@contoso.com",
        "5.1.10",
        "HardBounce",
    ),
    (
        "exchange_legacy_plain.eml",
        "bounce",
        "Exchange",
        "judy@corp.example.com",
        "5.1.1",
        "HardBounce",
    ),
    (
        "gmail_user_unknown.eml",
        "dsn",
        "Gmail",
        "kate.doesnotexist@gmail.com",
        "5.0.0",
        "HardBounce",
    ),
    ("qmail.eml", "bounce", "qmail", "leo@example.info", "5.1.1", "HardBounce"),
    (
        "qmail_over_quota.eml",
        "bounce",
        "qmail",
        "mia@example.info",
        "5.2.2",
        "SoftBounce",
    ),
    ("arf_yahoo.eml", "arf", "arf", "nina@yahoo.example", "", "SpamComplaint"),
    ("arf_headers_only.eml", "arf", "arf", "oscar@isp.example", "", "SpamComplaint"),
    (
        "out_of_office_rfc3834.eml",
        "autoreply",
        "autoreply",
        "peggy@example.com",
        "",
        "AutoResponder",
    ),
    (
        "out_of_office_exchange.eml",
        "autoreply",
        "autoreply",
        "quentin@corp.example.com",
        "",
        "AutoResponder",
    ),
]


@pytest.mark.parametrize("name,kind,mta,email,status,bounce_type", CASES)
def test_each_sample_parses_and_classifies(name, kind, mta, email, status, bounce_type):
    report = dsn.parse_report(fixture_bytes(name))
    assert report.kind == kind
    assert report.mta == mta
    block = report.first_failure
    assert block is not None
    assert block.email == email
    assert block.status == status
    assert classify.classify_recipient(block, kind=report.kind).type == bounce_type


@pytest.mark.parametrize(
    "name",
    [
        "postfix_user_unknown.eml",
        "exim_dsn.eml",
        "exim_plain.eml",
        "exchange_dsn.eml",
        "exchange_legacy_plain.eml",
        "gmail_user_unknown.eml",
        "qmail.eml",
        "arf_yahoo.eml",
        "arf_headers_only.eml",
    ],
)
def test_it_finds_our_message_id_and_verp_in_the_returned_message(name):
    report = dsn.parse_report(fixture_bytes(name))
    assert report.pm_message_id == FIXTURE_MESSAGE_ID
    assert report.original_message_id == f"{FIXTURE_MESSAGE_ID}@acme.example.com"
    assert report.original_return_path == FIXTURE_VERP


def test_it_reads_every_rfc3464_field_of_a_postfix_dsn():
    report = dsn.parse_report(fixture_bytes("postfix_user_unknown.eml"))
    (block,) = report.recipients
    assert report.reporting_mta == "mx1.example.net"
    assert block.original_recipient == "bob@example.net"
    assert block.action == "failed"
    assert block.remote_mta == "mail.example.net"
    assert block.diagnostic_type == "smtp"
    # Folded Diagnostic-Code lines are unfolded into one line.
    assert block.diagnostic == (
        "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in "
        "virtual mailbox table"
    )


def test_arf_reports_carry_the_feedback_type_and_agent():
    report = dsn.parse_report(fixture_bytes("arf_yahoo.eml"))
    assert report.feedback_type == "abuse"
    assert report.user_agent == "Yahoo!-Mail-Feedback/2.0"


def test_a_human_reply_is_not_a_report():
    report = dsn.parse_report(fixture_bytes("not_a_bounce.eml"))
    assert report.kind == "unknown"
    assert report.recipients == []


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Content-Type: multipart/report; boundary=x\r\n\r\n--x\r\n",
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64"
        b"\n\n!!!!\n--b--\n",
    ],
)
def test_hostile_input_never_raises(raw):
    report = dsn.parse_report(raw)
    assert report.kind in {"unknown", "dsn", "bounce"}


def _hostile_inputs(n: int) -> list[bytes]:
    return [
        b"Subject: x\n\nThe following address(es) failed:\n  " + b"a@" * n + b"\n",
        b"Subject: failure notice\n\nHi. This is the qmail-send program at x.\n<"
        + b"a@" * n
        + b">:\n",
        b"Subject: x\n\nDelivery has failed to these recipients\n#550 5.1.1 "
        + b"z" * n,
        b"From: MAILER-DAEMON@x.y\nSubject: Undeliverable\n\n" + b"a@b" * n,
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
        b"Final-Recipient: rfc822; a@b.cd\nAction: failed\nDiagnostic-Code: smtp; "
        + b"1.1.1 " * n
        + b"\n\n--b--\n",
        b"Subject: " + b"re: " * n + b"\n\nx",
        # Plain-text recognisers of the reason engine (bounces/engine/formats.py).
        b"From: MAILER-DAEMON@x.y\n\nThe following address(es) failed:\n"
        + b" " * (5 * n)
        + b"\n",
        b"From: MAILER-DAEMON@x.y\n\n" + (b"a" * 60 + b"@") * n,
        b"From: MAILER-DAEMON@x.y\n\n" + b"(expanded from: " * n,
        b"Content-Type: text/html\nFrom: MAILER-DAEMON@x.y\n\n" + b"<style" * n,
        b"Subject: x\n\n{" + b'"notificationType":' * n,
    ]


def test_parsing_time_grows_linearly_on_hostile_input():
    # Each of these once took minutes at 300 KB (regex backtracking, stdlib
    # re-serialisation); the bounce MX must answer in seconds.
    import time

    from bounces.engine import analyse

    for raw in _hostile_inputs(50_000):
        start = time.perf_counter()
        analyse(raw)
        assert time.perf_counter() - start < 2.0, raw[:60]
