"""``manage.py parse_bounce FILE ...`` prints one JSON verdict per file."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .helpers import FIXTURE_MESSAGE_ID, FIXTURES


def run(*args) -> list[dict]:
    out = io.StringIO()
    call_command("parse_bounce", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_it_prints_the_verdict_on_a_gmail_bounce():
    (verdict,) = run(str(FIXTURES / "gmail_user_unknown.eml"))
    assert verdict == {
        "Bounce": True,
        "Email": "kate.doesnotexist@gmail.com",
        "Recipients": ["kate.doesnotexist@gmail.com"],
        "Reason": "user_unknown",
        "Type": "HardBounce",
        "TypeCode": 1,
        "Suppress": True,
        "Status": "5.1.1",  # more specific than the DSN's "5.0.0"
        "Diagnostic": (
            "550-5.1.1 The email account that you tried to reach does not exist. "
            "Please try 550-5.1.1 double-checking the recipient's email address for "
            "typos or 550-5.1.1 unnecessary spaces. For more information, go to "
            "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser "
            "x8si123456pxb.1 - gsmtp"
        ),
        "Kind": "dsn",
        "MTA": "Gmail",
        "MessageID": FIXTURE_MESSAGE_ID,
    }


def test_a_block_never_suppresses_and_a_complaint_does():
    (blocked,) = run(str(FIXTURES / "postfix_blocked_spamhaus.eml"))
    assert (blocked["Reason"], blocked["Type"], blocked["Suppress"]) == (
        "blocked",
        "Blocked",
        False,
    )
    (complaint,) = run(str(FIXTURES / "arf_yahoo.eml"))
    assert (complaint["Type"], complaint["TypeCode"], complaint["Suppress"]) == (
        "SpamComplaint",
        100001,
        True,
    )


def test_a_human_reply_is_not_a_bounce_and_says_why():
    (verdict,) = run(str(FIXTURES / "not_a_bounce.eml"))
    assert verdict["Bounce"] is False
    assert "not a bounce" in verdict["Why"]
    assert "Type" not in verdict


def test_several_files_and_a_directory_give_one_line_each():
    files = [str(FIXTURES / "qmail.eml"), str(FIXTURES / "exim_plain.eml")]
    verdicts = run(*files)
    assert [v["File"] for v in verdicts] == files
    assert [v["Email"] for v in verdicts] == ["leo@example.info", "heidi@example.com"]
    whole = run(str(FIXTURES))
    assert len(whole) == len(list(FIXTURES.rglob("*.eml")))  # corpus included
    assert all("Bounce" in v for v in whole)


def test_a_missing_file_is_a_command_error():
    with pytest.raises(CommandError, match="cannot read /nonexistent/report.eml"):
        call_command("parse_bounce", "/nonexistent/report.eml")
