"""Raw MIME → Postmark's inbound JSON (inbound.parsing), from .eml fixtures."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from inbound.parsing import inbound_payload, summary
from inbound.replies import stripped_text_reply

from .conftest import fixture_eml

RECEIVED = datetime(2026, 1, 5, 10, 0, 5, tzinfo=UTC)


def payload(**overrides):
    args = {
        "raw": fixture_eml("reply_with_attachments.eml", inbound_hash="abc123"),
        "message_id": "5f0c8f9e-0000-4000-8000-000000000001",
        "original_recipient": "abc123+ticket-42@inbound.localhost",
        "mail_from": "bounces@example.org",
        "received_at": RECEIVED,
        "inbound_domains": {"inbound.localhost"},
    }
    args.update(overrides)
    return inbound_payload(**args)


def test_it_produces_postmarks_keys_in_postmarks_order():
    assert list(payload()) == [
        "FromName",
        "MessageStream",
        "From",
        "FromFull",
        "To",
        "ToFull",
        "Cc",
        "CcFull",
        "Bcc",
        "BccFull",
        "OriginalRecipient",
        "Subject",
        "MessageID",
        "ReplyTo",
        "MailboxHash",
        "Date",
        "TextBody",
        "HtmlBody",
        "StrippedTextReply",
        "Tag",
        "Headers",
        "Attachments",
    ]


def test_addresses_are_decoded_and_split_with_mailbox_hashes():
    p = payload()
    assert p["From"] == "ana@example.org"
    assert p["FromName"] == "Ana Müller"
    assert p["FromFull"] == {
        "Email": "ana@example.org",
        "Name": "Ana Müller",
        "MailboxHash": "",
    }
    assert p["ToFull"] == [
        {
            "Email": "abc123+ticket-42@inbound.localhost",
            "Name": "Support Desk",
            "MailboxHash": "ticket-42",
        },
        {"Email": "bob@example.com", "Name": "", "MailboxHash": ""},
    ]
    assert p["To"] == (
        '"Support Desk" <abc123+ticket-42@inbound.localhost>, bob@example.com'
    )
    assert p["CcFull"] == [
        {"Email": "carol@example.net", "Name": "Carol", "MailboxHash": ""}
    ]
    assert p["Bcc"] == "" and p["BccFull"] == []
    assert p["MailboxHash"] == "ticket-42"
    assert p["OriginalRecipient"] == "abc123+ticket-42@inbound.localhost"
    assert p["ReplyTo"] == "replies@example.org"
    assert p["MessageStream"] == "inbound"


def test_subject_date_and_bodies_are_decoded():
    p = payload()
    assert p["Subject"] == "Re: Größe order"
    assert p["Date"] == "Mon, 05 Jan 2026 10:00:00 +0000"
    assert p["TextBody"].startswith("Yes, the Größe L fits. Thanks!")
    assert "> Which size do you need?" in p["TextBody"]
    assert p["HtmlBody"].startswith("<p>Yes, the Größe L fits. Thanks!</p>")
    assert p["StrippedTextReply"] == "Yes, the Größe L fits. Thanks!"


def test_headers_start_with_the_envelope_return_path_and_keep_spam_headers():
    headers = payload()["Headers"]
    assert headers[0] == {"Name": "Return-Path", "Value": "<bounces@example.org>"}
    names = [h["Name"] for h in headers]
    # The sender's own Return-Path is replaced (RFC 5321 §4.4).
    assert names.count("Return-Path") == 1
    values = {h["Name"]: h["Value"] for h in headers}
    assert values["X-Spam-Score"] == "1.3"
    assert values["X-Spam-Status"].startswith("No, score=1.3")
    assert values["X-Spam-Tests"] == "HTML_MESSAGE,SPF_PASS"
    assert values["Received-SPF"].startswith("Pass")
    assert values["Message-ID"] == "<CAF123@mail.example.org>"
    assert values["X-Custom"] == "folded continuation"
    # Lifted into top-level fields instead.
    for lifted in ("From", "To", "Cc", "Subject", "Date", "Reply-To", "Content-Type"):
        assert lifted not in names


def test_attachments_include_inline_parts_with_content_ids():
    attachments = payload()["Attachments"]
    assert attachments == [
        {
            "Name": "logo.png",
            "Content": "iVBORw0KGgo=",
            "ContentType": "image/png",
            "ContentLength": 8,
            "ContentID": "logo@example.org",
        },
        {
            "Name": "invoice.pdf",
            "Content": "JVBERi0xLjQKJcfsj6IK",
            "ContentType": "application/pdf",
            "ContentLength": len(base64.b64decode("JVBERi0xLjQKJcfsj6IK")),
            "ContentID": "",
        },
    ]


def test_raw_email_only_when_asked_and_summary_drops_content():
    assert "RawEmail" not in payload()
    with_raw = payload(raw_email=True)
    assert with_raw["RawEmail"].startswith("Return-Path: <forged@attacker.example>")
    short = summary(payload())
    assert "TextBody" not in short and "Headers" not in short
    assert [a["Name"] for a in short["Attachments"]] == ["logo.png", "invoice.pdf"]
    assert all("Content" not in a for a in short["Attachments"])


def test_a_message_without_date_gets_the_receipt_time_in_rfc_2822():
    raw = (
        b"From: a@example.org\r\nTo: x@inbound.localhost\r\nSubject: s\r\n\r\nbody\r\n"
    )
    p = payload(raw=raw)
    assert p["Date"] == "Mon, 05 Jan 2026 10:00:05 +0000"
    assert p["TextBody"] == "body\n"
    assert p["StrippedTextReply"] == ""
    assert p["Attachments"] == []


def test_undecodable_bytes_never_break_the_json():
    raw = (
        b"From: a@example.org\r\nTo: x@inbound.localhost\r\nSubject: caf\xe9\r\n"
        b"Content-Type: text/plain; charset=unknown-8bit\r\n\r\nbad \xff body\r\n"
    )
    p = payload(raw=raw)
    assert p["Subject"].startswith("caf")
    assert "body" in p["TextBody"]
    import json

    json.dumps(p)  # would raise on lone surrogates


def test_reply_stripping_handles_outlook_and_plain_quotes():
    outlook = (
        "Sounds good.\n\n-----Original Message-----\nFrom: Bob\nSent: Monday\n"
        "To: Ana\nSubject: Plan\n\nOld text"
    )
    assert stripped_text_reply(outlook) == "Sounds good."
    assert stripped_text_reply("New\n> old line\n> more\n") == "New"
    assert stripped_text_reply("No quote at all") == ""
