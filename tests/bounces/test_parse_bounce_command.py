"""``manage.py parse_bounce FILE`` prints one JSON object for an operator."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from .helpers import FIXTURE_MESSAGE_ID, FIXTURES


def run(*args) -> dict:
    out = io.StringIO()
    call_command("parse_bounce", *args, stdout=out)
    return json.loads(out.getvalue())


def test_it_prints_the_classification_of_a_gmail_bounce():
    assert run(str(FIXTURES / "gmail_user_unknown.eml")) == {
        "Email": "kate.doesnotexist@gmail.com",
        "Type": "HardBounce",
        "TypeCode": 1,
        "Status": "5.1.1",  # more specific than the DSN's "5.0.0"
        "Diagnostic": (
            "550-5.1.1 The email account that you tried to reach does not exist. "
            "Please try 550-5.1.1 double-checking the recipient's email address for "
            "typos or 550-5.1.1 unnecessary spaces. For more information, go to "
            "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser "
            "x8si123456pxb.1 - gsmtp"
        ),
        "MessageID": FIXTURE_MESSAGE_ID,
    }


def test_it_reports_a_complaint_and_an_unknown_message():
    complaint = run(str(FIXTURES / "arf_yahoo.eml"))
    assert (complaint["Type"], complaint["TypeCode"]) == ("SpamComplaint", 100001)
    unknown = run(str(FIXTURES / "not_a_bounce.eml"))
    assert unknown == {
        "Email": "",
        "Type": "Unknown",
        "TypeCode": 2048,
        "Status": "",
        "Diagnostic": "",
        "MessageID": None,
    }


def test_a_missing_file_is_a_command_error():
    with pytest.raises(CommandError):
        call_command("parse_bounce", "/nonexistent/report.eml")
