"""The reason engine: its table, its corpus accuracy, and that nothing crashes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bounces import dsn
from bounces.engine import REASONS, TYPE_CODES, analyse, classify
from bounces.engine.evaluate import CORPUS, evaluate
from bounces.services import DEACTIVATING


def test_the_table_maps_every_reason_to_a_postmark_type_and_suppression():
    assert len(REASONS) == 28
    for reason in REASONS.values():
        assert reason.type in TYPE_CODES
    suppressing = {r.name for r in REASONS.values() if r.suppress}
    assert suppressing == {
        "user_unknown",
        "has_moved",
        "host_unknown",
        "not_accept",
        "bad_address",
        "complaint",
    }
    # bounce_record deactivates exactly the types of the suppressing reasons.
    assert set(DEACTIVATING) == {REASONS[r].type for r in suppressing}


@pytest.mark.parametrize(
    "status,text,reason",
    [
        (
            "5.1.1",
            "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown",
            "user_unknown",
        ),
        ("5.0.0", "550 5.1.1 blocked using zen.spamhaus.org", "blocked"),
        ("", "554 Your access from IP address 192.0.2.1 has been blocked", "blocked"),
        ("5.2.2", "552 5.2.2 Mailbox full", "mailbox_full"),
        ("5.1.1", "550 5.1.1 user over quota", "mailbox_full"),
        (
            "5.7.26",
            "550 5.7.26 Unauthenticated email from x is not accepted due to DMARC",
            "auth_failure",
        ),
        (
            "5.7.1",
            "554 5.7.1 Message rejected as spam by Content Filtering",
            "spam_detected",
        ),
        (
            "5.1.2",
            "550 5.1.2 Host unknown (Name server: x.example: host not found)",
            "host_unknown",
        ),
        ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", "user_unknown"),
        ("5.1.10", "556 5.1.10 Recipient address has null MX", "not_accept"),
        (
            "5.3.4",
            "552 5.3.4 Message size exceeds fixed maximum message size",
            "message_too_big",
        ),
        ("5.1.3", "501 5.1.3 Bad recipient address syntax", "bad_address"),
        ("5.7.1", "550 5.7.1 Relaying denied", "no_relaying"),
        ("5.1.8", "553 5.1.8 Sender address rejected: Domain not found", "rejected"),
        ("5.4.7", "Delivery time expired", "expired"),
        ("5.4.6", "554 5.4.6 Hop count exceeded - possible mail loop", "system_error"),
        ("", "554 Your message was infected with a virus", "virus_detected"),
        (
            "5.2.1",
            "550 5.2.1 The email account that you tried to reach is disabled",
            "suspended",
        ),
        ("", "", "undefined"),
    ],
)
def test_words_and_codes_decide_the_reason(status, text, reason):
    assert classify(status=status, diagnostic=text).reason == reason


def test_temporary_is_not_permanent():
    # A synchronous 450 "user unknown" is retried, never suppressed.
    verdict = classify(smtp_code=450, diagnostic="450 4.1.1 User unknown")
    assert (verdict.reason, verdict.suppress) == ("delayed", False)
    # A DSN that gave up after temporary failures has expired: a soft bounce.
    verdict = classify(status="4.4.7", diagnostic="", action="failed")
    assert (verdict.reason, verdict.type) == ("expired", "SoftBounce")


def test_blocklist_policy_content_and_transient_reasons_never_suppress():
    for name in (
        "blocked",
        "rejected",
        "filtered",
        "policy_violation",
        "spam_detected",
        "mailbox_full",
        "expired",
        "delayed",
        "auth_failure",
    ):
        assert REASONS[name].suppress is False


def test_an_auto_reply_a_challenge_and_an_address_change_are_told_apart():
    def kind(subject, body):
        raw = (
            f"From: Ann <ann@example.org>\r\nTo: x@example.com\r\nSubject: {subject}\r\n"
            f"Auto-Submitted: auto-replied\r\n\r\n{body}\r\n"
        ).encode()
        return analyse(raw).as_json()["Reason"]

    assert kind("Out of office", "I am away until Monday.") == "auto_reply"
    assert (
        kind(
            "Please verify",
            "Please verify that you are a human: click the link below to verify",
        )
        == "challenge"
    )
    assert kind("New address", "My new email address is ann@new.example.") == (
        "address_change"
    )


def test_a_dsn_without_final_recipient_names_the_failed_recipient_from_its_text():
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail\r\n"
        b"X-Failed-Recipients: zed@example.net\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"'
        b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nzed@example.net: 550 5.1.1 "
        b"No such user\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.net\r\n\r\nAction: failed\r\nStatus: 5.0.0\r\n"
        b"--b--\r\n"
    )
    verdict = analyse(raw).as_json()
    assert (verdict["Email"], verdict["Reason"], verdict["Suppress"]) == (
        "zed@example.net",
        "user_unknown",
        True,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_crash_the_parser(raw):
    dsn.parse_report(raw)
    assert analyse(raw).as_json()["Bounce"] in (True, False)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=600),
    st.text(max_size=12),
    st.sampled_from(["", "failed", "delayed", "x"]),
)
def test_any_text_gets_a_reason_of_the_table(text, status, action):
    verdict = classify(status=status, diagnostic=text, action=action)
    assert verdict.reason in REASONS
    assert verdict.type == REASONS[verdict.reason].type
    assert verdict.suppress == REASONS[verdict.reason].suppress


_HEADERS = st.sampled_from(
    [
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n",
        b"Content-Type: multipart/report; report-type=feedback-report; boundary=b\n",
        b"Content-Type: message/delivery-status\n",
        b"Content-Transfer-Encoding: base64\n",
        b"From: MAILER-DAEMON@x.example\n",
        b"Subject: Undelivered Mail Returned to Sender\n",
        b"X-Failed-Recipients: a@b.example, ,@@\n",
        b"Auto-Submitted: auto-replied\n",
    ]
)
_BODY = st.sampled_from(
    [
        b"--b\nContent-Type: message/delivery-status\n\n",
        b"Final-Recipient: rfc822; a@b.example\n",
        b"Final-Recipient: rfc822;\n",
        b"Original-Recipient: x\n",
        b"Action: failed\nStatus: 5.1.1\n",
        b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\n",
        b"--b\nContent-Type: message/rfc822\n\n",
        b"--b\nContent-Type: text/rfc822-headers\n\nTo: <a@b>\n",
        b"--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n",
        b"Hi. This is the qmail-send program\n<a@b.example>:\n",
        b"The following address(es) failed:\n  a@b.example\n    x\n",
        b'{"Type":"Notification","Message":"{\\"notificationType\\":\\"Bounce\\"}"}\n',
        b"--b--\n",
        b"\n",
        b"\xff\xfe\x00",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_HEADERS, max_size=5), st.lists(_BODY, max_size=15))
def test_mangled_mime_never_crashes_the_parser(headers, body):
    raw = b"".join(headers) + b"\n" + b"".join(body)
    dsn.parse_report(raw)
    assert analyse(raw).as_json()["Bounce"] in (True, False)


def test_the_corpus_meets_the_targets():
    """The issue's acceptance measure (bench/bounces.py prints the details)."""
    report = evaluate()
    assert report.files >= 1
    assert report.crashes == 0, [o.crashed for o in report.outcomes if o.crashed]
    summary = report.summary()
    assert summary["recipient_found_pct"] >= 97, summary
    assert summary["suppress_agrees_pct"] >= 97, summary
    assert summary["type_agrees_pct"] >= 93, summary


def test_the_held_out_set_never_crashes_and_keeps_suppression_decisions():
    """The held-out set (tests/fixtures/bounces/holdout) was labelled after the
    rules were written and is never used to tune them; docs/bounces.md reports
    its figures. Guard what matters most there: no crash, and suppression
    decisions at the corpus target (type agreement is reported, not asserted)."""
    report = evaluate(CORPUS.parent / "holdout")
    assert report.files >= 40
    assert report.crashes == 0, [o.crashed for o in report.outcomes if o.crashed]
    assert report.summary()["suppress_agrees_pct"] >= 97, report.summary()
