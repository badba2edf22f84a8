"""The MIME we archive, parsed back with Python's email package."""

from __future__ import annotations

import base64
from email import policy
from email.parser import BytesParser

import pytest

from messages.archive import archive_get
from messages.models import Message

pytestmark = pytest.mark.django_db

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def send(api, tenant, **fields):
    body = {
        "From": f"Acme Support <{tenant.sender}>",
        "To": "alice@example.org",
        "Subject": "Hello",
    }
    body.update(fields)
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert response.status_code == 200, response.content
    message = Message.objects.get(message_id=response.json()["MessageID"])
    raw = archive_get(key=message.archive_key)
    return BytesParser(policy=policy.default).parsebytes(raw), message, raw


def test_text_and_html_become_multipart_alternative(api, tenant):
    parsed, _message, _raw = send(
        api, tenant, TextBody="Hi Alice", HtmlBody="<p>Hi Alice</p>"
    )
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.get_payload()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().strip() == "Hi Alice"
    assert html.get_content_type() == "text/html"
    assert html.get_content().strip() == "<p>Hi Alice</p>"


def test_html_only_is_a_single_text_html_part(api, tenant):
    parsed, _m, _r = send(api, tenant, HtmlBody="<b>only</b>")
    assert parsed.get_content_type() == "text/html"
    assert parsed.get_content().strip() == "<b>only</b>"


def test_headers_carry_from_display_name_recipients_and_reply_to(api, tenant):
    parsed, message, _r = send(
        api,
        tenant,
        From=f'"Acme, Inc. Support" <{tenant.sender}>',
        To="Alice <alice@example.org>, bob@example.org",
        Cc="carol@example.org",
        Bcc="dave@example.org",
        ReplyTo="help@acme.example.com",
        Subject="Grüße aus Köln",
        TextBody="x",
    )
    assert parsed["From"].addresses[0].display_name == "Acme, Inc. Support"
    assert parsed["From"].addresses[0].addr_spec == tenant.sender
    assert [a.addr_spec for a in parsed["To"].addresses] == [
        "alice@example.org",
        "bob@example.org",
    ]
    assert parsed["Cc"].addresses[0].addr_spec == "carol@example.org"
    # Bcc is envelope-only: it must never appear in the message itself.
    assert parsed["Bcc"] is None
    assert parsed["Reply-To"].addresses[0].addr_spec == "help@acme.example.com"
    assert parsed["Subject"] == "Grüße aus Köln"
    assert sorted(r.email for r in message.recipients.all()) == [
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
        "dave@example.org",
    ]


def test_only_the_first_of_several_from_addresses_is_used(api, tenant):
    parsed, message, _r = send(
        api, tenant, From=f"{tenant.sender}, other@example.net", TextBody="x"
    )
    assert [a.addr_spec for a in parsed["From"].addresses] == [tenant.sender]
    assert message.from_email == tenant.sender


def test_message_id_header_is_derived_from_the_message_id(api, tenant):
    parsed, message, _r = send(api, tenant, TextBody="x")
    assert parsed["Message-ID"] == f"<{message.message_id}@{tenant.domain.name}>"
    assert parsed["X-PM-Message-Id"] == str(message.message_id)
    assert message.header_message_id == f"{message.message_id}@{tenant.domain.name}"
    assert parsed["Date"].datetime is not None


def test_custom_headers_are_kept_and_reserved_ones_cannot_be_overridden(api, tenant):
    parsed, message, _r = send(
        api,
        tenant,
        TextBody="x",
        Headers=[
            {"Name": "X-Campaign", "Value": "spring"},
            {"Name": "List-Unsubscribe", "Value": "<mailto:u@acme.example.com>"},
            {"Name": "Message-ID", "Value": "<custom-id@acme.example.com>"},
            {"Name": "To", "Value": "sneaky@example.net"},
        ],
    )
    assert parsed["X-Campaign"] == "spring"
    assert parsed["List-Unsubscribe"] == "<mailto:u@acme.example.com>"
    assert parsed["Message-ID"] == "<custom-id@acme.example.com>"
    assert message.header_message_id == "custom-id@acme.example.com"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["alice@example.org"]


def test_attachments_and_inline_images_are_laid_out_as_mixed_and_related(api, tenant):
    parsed, message, _r = send(
        api,
        tenant,
        TextBody="see attached",
        HtmlBody='<img src="cid:logo.png"><img src="cid:second">',
        Attachments=[
            {
                "Name": "logo.png",
                "Content": base64.b64encode(PNG).decode(),
                "ContentType": "image/png",
                "ContentID": "cid:logo.png",
            },
            {
                "Name": "second.png",
                "Content": base64.b64encode(PNG).decode(),
                "ContentType": "image/png",
                "ContentID": "second",  # without the cid: prefix
            },
            {
                "Name": "report.pdf",
                "Content": base64.b64encode(b"%PDF-1.4 fake").decode(),
                "ContentType": "application/pdf",
                "ContentID": None,
            },
        ],
    )
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, pdf = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    text, related = alternative.get_payload()
    assert text.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html, logo, second = related.get_payload()
    assert html.get_content_type() == "text/html"
    assert logo["Content-ID"] == "<logo.png>"
    assert logo.get_content_disposition() == "inline"
    assert logo.get_content() == PNG
    assert second["Content-ID"] == "<second>"
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == "report.pdf"
    assert pdf.get_content_disposition() == "attachment"
    assert pdf.get_content() == b"%PDF-1.4 fake"
    assert message.attachment_names == ["logo.png", "second.png", "report.pdf"]


def test_lines_are_crlf_terminated_and_within_the_rfc_5322_limit(api, tenant):
    _p, _m, raw = send(api, tenant, TextBody="word " * 5000, Subject="s" * 1500)
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_non_ascii_names_domains_and_filenames_are_encoded_and_read_back(api, tenant):
    parsed, message, raw = send(
        api,
        tenant,
        From=f"Jörg Müller <{tenant.sender}>",
        To="Zoë <zoe@bücher.example>, plain@example.org",
        TextBody="Grüße",
        HtmlBody="<p>Grüße</p>",
        Headers=[{"Name": "X-Note", "Value": "naïve"}],
        Attachments=[
            {
                "Name": "résumé.pdf",
                "Content": base64.b64encode(b"pdf").decode(),
                "ContentType": "application/pdf",
            }
        ],
    )
    assert raw.isascii()  # 7-bit clean: RFC 2047 / RFC 2231 / base64
    assert parsed["From"].addresses[0].display_name == "Jörg Müller"
    to = parsed["To"].addresses
    assert (to[0].display_name, to[0].domain) == ("Zoë", "xn--bcher-kva.example")
    assert to[1].addr_spec == "plain@example.org"
    assert parsed["X-Note"] == "naïve"
    text = parsed.get_body(preferencelist=("plain",))
    assert text.get_content().strip() == "Grüße"
    (pdf,) = list(parsed.iter_attachments())
    assert pdf.get_filename() == "résumé.pdf"
    # The database keeps what the client sent.
    assert message.to_header == "Zoë <zoe@bücher.example>, plain@example.org"


def test_text_only_with_an_inline_part_uses_multipart_related(api, tenant):
    parsed, _m, _r = send(
        api,
        tenant,
        TextBody="see logo",
        Attachments=[
            {
                "Name": "logo.png",
                "Content": base64.b64encode(PNG).decode(),
                "ContentType": "image/png",
                "ContentID": "cid:logo",
            }
        ],
    )
    assert parsed.get_content_type() == "multipart/related"
    text, logo = parsed.get_payload()
    assert text.get_content_type() == "text/plain"
    assert logo["Content-ID"] == "<logo>"
