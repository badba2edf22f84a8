"""The classification table of docs/bounces.md, rule by rule."""

from __future__ import annotations

import pytest

from bounces.classify import classify

TABLE = [
    # (status, diagnostic, action, kind) -> type
    (("", "", "", "arf"), "SpamComplaint"),
    (("", "", "", "autoreply"), "AutoResponder"),
    (("4.4.1", "Connection timed out", "delayed", "dsn"), "Transient"),
    (
        (
            "5.7.1",
            "554 5.7.1 Client host [1.2.3.4] blocked using zen.spamhaus.org",
            "",
            "",
        ),
        "Blocked",
    ),
    (
        ("", "550 Message rejected: sending IP is listed on Spamhaus SBL", "", ""),
        "Blocked",
    ),
    (
        ("5.7.1", "550 5.7.1 Service unavailable, Client host blacklisted", "", ""),
        "Blocked",
    ),
    (
        (
            "5.7.0",
            "550 5.7.0 Message rejected due to poor reputation of sender IP",
            "",
            "",
        ),
        "Blocked",
    ),
    (
        ("5.7.1", "550 5.7.1 Recipient address rejected: Access denied", "", ""),
        # Microsoft's directory-based edge blocking: the address does not exist.
        "HardBounce",
    ),
    (
        (
            "5.7.26",
            "550 5.7.26 Unauthenticated email is not accepted due to DMARC policy",
            "",
            "",
        ),
        "DMARCPolicy",
    ),
    (("5.4.4", "Host or domain name not found", "", ""), "HardBounce"),
    (("", "Name service error for name=nowhere.invalid type=MX", "", ""), "DnsError"),
    (("5.1.2", "550 5.1.2 Bad destination system address", "", ""), "HardBounce"),
    (("5.2.2", "552 5.2.2 Mailbox full", "", ""), "SoftBounce"),
    (("4.2.2", "452 4.2.2 Over quota", "", ""), "SoftBounce"),
    (
        ("", "552 Requested mail action aborted: exceeded storage allocation", "", ""),
        "SoftBounce",
    ),
    (("5.0.0", "550 user has exceeded quota, please try later", "", ""), "SoftBounce"),
    (("4.3.0", "451 4.3.0 Temporary local problem", "", ""), "Transient"),
    (("", "421 Try again later", "", ""), "Transient"),
    (("4.1.1", "450 4.1.1 User unknown in local recipient table", "", ""), "Transient"),
    (("5.1.1", "550 5.1.1 User unknown", "", ""), "HardBounce"),
    (
        (
            "5.0.0",
            "550-5.1.1 The email account that you tried to reach does not exist",
            "",
            "",
        ),
        "HardBounce",
    ),
    (("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound", "", ""), "HardBounce"),
    (("", "550 No such user here", "", ""), "HardBounce"),
    (("", "550 Requested action not taken: mailbox unavailable", "", ""), "HardBounce"),
    (("5.1.3", "501 5.1.3 Bad recipient address syntax", "", ""), "BadEmailAddress"),
    (
        ("5.2.1", "550 5.2.1 Mailbox disabled, not accepting messages", "", ""),
        "SoftBounce",
    ),
    (("5.1.0", "", "", ""), "HardBounce"),
    (("5.3.4", "552 5.3.4 Message too big for system", "", ""), "SoftBounce"),
    (("", "554 Transaction failed", "", ""), "Unknown"),
    (("", "", "", ""), "Unknown"),
    (
        (
            "",
            "554 Your message was infected with a virus (Eicar-Test-Signature)",
            "",
            "",
        ),
        "VirusNotification",
    ),
]


@pytest.mark.parametrize("inputs,expected", TABLE)
def test_classification_table(inputs, expected):
    status, diagnostic, action, kind = inputs
    verdict = classify(status=status, diagnostic=diagnostic, action=action, kind=kind)
    assert verdict.type == expected, verdict.rule


def test_a_synchronous_reply_code_alone_decides_temporary_or_not():
    assert classify(smtp_code=451).type == "Transient"
    assert classify(smtp_code=550, diagnostic="User unknown").type == "HardBounce"


def test_a_blocklist_text_wins_over_the_generic_5_1_1_status():
    # Some receivers answer 5.1.1 even when they refuse the sending IP.
    verdict = classify(
        status="5.1.1", diagnostic="550 5.1.1 blocked using b.barracudacentral.org"
    )
    assert verdict.type == "Blocked"
