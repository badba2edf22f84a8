"""``messages.unsubscribe``: signed tokens and the per-recipient MIME rewrite."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.parser import BytesParser

import pytest

from messages.email import Attachment, OutboundEmail
from messages.mime import compose
from messages.unsubscribe import (
    UnsubscribeTarget,
    message_personalize,
    token_from_subject,
    token_make,
    token_read,
    unsubscribe_url,
)

TARGET = UnsubscribeTarget(
    server_id=7,
    message_stream="news",
    email="reader@example.org",
    message_id="0a1b2c3d-0000-4000-8000-000000000001",
)


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.UNSUBSCRIBE_BASE_URL = "https://pm.example.com"
    settings.UNSUBSCRIBE_MAILTO = "unsub@pm.example.com"


def raw_message(**fields) -> bytes:
    email = OutboundEmail(
        from_header="News <news@acme.example.com>",
        to="reader@example.org",
        subject="This week",
        **fields,
    )
    raw, _mid = compose(
        email,
        from_address="news@acme.example.com",
        message_id="0a1b2c3d-0000-4000-8000-000000000001",
        submitted_at=dt.datetime(2026, 12, 6, tzinfo=dt.UTC),
    )
    return raw


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def bodies(parsed) -> dict[str, str]:
    return {
        part.get_content_subtype(): part.get_content()
        for part in parsed.walk()
        if part.get_content_maintype() == "text"
    }


def test_a_token_reads_back_to_its_target_and_is_path_safe():
    token = token_make(TARGET)
    assert token == token.lower()
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyz234567.0123456789")
    assert token_read(token) == TARGET
    # Paths are lower-cased on the way in; upper case reads the same.
    assert token_read(token.upper()) == TARGET


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("0" if t[-1] != "0" else "1"),  # MAC changed
        lambda t: ("b" if t[0] != "b" else "c") + t[1:],  # payload changed
        lambda t: t.split(".")[0],  # MAC missing
        lambda t: "",
        lambda t: "x" * 5000,
        lambda t: "!!!." + t.split(".")[1],
    ],
)
def test_forged_or_damaged_tokens_are_refused(mangle):
    assert token_read(mangle(token_make(TARGET))) is None


def test_a_token_signed_with_another_secret_key_is_refused(settings):
    token = token_make(TARGET)
    settings.SECRET_KEY = "another-secret-key-0123456789-abcdefghijklmnop"
    assert token_read(token) is None


def test_the_copy_carries_rfc_8058_headers_and_a_footer_link():
    raw = raw_message(
        text_body="Hello", html_body="<html><body><p>Hello</p></body></html>"
    )
    copy = message_personalize(raw, target=TARGET)
    parsed = parse(copy)
    url = unsubscribe_url(token_make(TARGET))
    assert url.startswith("https://pm.example.com/unsubscribe/")
    assert parsed["List-Unsubscribe"].startswith(
        f"<{url}>, <mailto:unsub@pm.example.com?"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parts = bodies(parsed)
    assert parts["plain"].startswith("Hello")
    assert f"Unsubscribe: {url}" in parts["plain"]
    html_part = parts["html"]
    assert f'<a href="{url}">Unsubscribe</a>' in html_part
    assert html_part.index("Unsubscribe") < html_part.index("</body>")
    # Everything else is as it was.
    original = parse(raw)
    for name in ("From", "To", "Subject", "Message-ID", "Date"):
        assert parsed[name] == original[name]
    assert b"\n" not in copy.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 998 for line in copy.split(b"\r\n"))


def test_the_mailto_subject_carries_the_token():
    copy = parse(message_personalize(raw_message(text_body="Hi"), target=TARGET))
    mailto = copy["List-Unsubscribe"].split("<mailto:")[1].rstrip(">")
    from urllib.parse import parse_qs, unquote, urlsplit

    subject = parse_qs(urlsplit("mailto:" + mailto).query)["subject"][0]
    assert token_from_subject(unquote(subject)) == token_make(TARGET)


def test_the_placeholder_is_replaced_instead_of_adding_a_footer():
    raw = raw_message(
        text_body="Bye? {{{ pm:unsubscribe }}}",
        html_body='<p>Bye? {{{pm:unsubscribe label="Stop these"}}}</p>',
    )
    parts = bodies(parse(message_personalize(raw, target=TARGET)))
    url = unsubscribe_url(token_make(TARGET))
    assert parts["plain"].strip() == f"Bye? {url}"
    assert parts["html"].strip() == f'<p>Bye? <a href="{url}">Stop these</a></p>'


def test_each_recipient_gets_their_own_link():
    raw = raw_message(text_body="Hi")
    other = UnsubscribeTarget(7, "news", "second@example.org", TARGET.message_id)
    first = bodies(parse(message_personalize(raw, target=TARGET)))["plain"]
    second = bodies(parse(message_personalize(raw, target=other)))["plain"]
    assert first != second
    assert token_make(other) in second


def test_a_tenant_list_unsubscribe_header_is_replaced_by_ours():
    raw = raw_message(
        text_body="Hi",
        headers=[("List-Unsubscribe", "<mailto:old@acme.example.com>")],
    )
    parsed = parse(message_personalize(raw, target=TARGET))
    assert len(parsed.get_all("List-Unsubscribe")) == 1
    assert "old@acme" not in parsed["List-Unsubscribe"]


def test_non_ascii_bodies_and_attachments_survive():
    raw = raw_message(
        text_body="Grüße",
        html_body="<p>Grüße</p>",
        attachments=[
            Attachment(name="notes.txt", content=b"keep me", content_type="text/plain")
        ],
    )
    parsed = parse(message_personalize(raw, target=TARGET))
    parts = [p for p in parsed.walk() if not p.is_multipart()]
    attachment = next(p for p in parts if p.get_filename() == "notes.txt")
    assert attachment.get_content() in ("keep me", b"keep me")
    text = next(
        p
        for p in parts
        if p.get_content_type() == "text/plain" and not p.get_filename()
    )
    assert text.get_content().startswith("Grüße")
    assert "Unsubscribe: https://pm.example.com/unsubscribe/" in text.get_content()


def test_a_client_built_quoted_printable_message_gets_the_link_too():
    # What an SMTP client might submit: one quoted-printable HTML part, LF endings.
    raw = (
        b"From: news@acme.example.com\nTo: reader@example.org\nSubject: Hi\n"
        b"MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n"
        b"Content-Transfer-Encoding: quoted-printable\n\n"
        b"<p>Caf=C3=A9 news {{{ pm:unsubscribe }}}</p>\n"
    ).replace(b"\n", b"\r\n")
    copy = parse(message_personalize(raw, target=TARGET))
    url = unsubscribe_url(token_make(TARGET))
    assert copy.get_content_type() == "text/html"
    assert copy.get_content().strip() == (
        f'<p>Café news <a href="{url}">Unsubscribe</a></p>'
    )
    assert copy["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert copy["Subject"] == "Hi"


def test_a_deploy_check_warns_when_unsubscribe_links_are_not_https(settings):
    from accounts.checks import check_unsubscribe_url

    assert check_unsubscribe_url(None) == []  # https://pm.example.com
    settings.UNSUBSCRIBE_BASE_URL = ""
    settings.SITE_URL = "http://127.0.0.1:8000"
    (warning,) = check_unsubscribe_url(None)
    assert warning.id == "accounts.W001"
    assert "http://127.0.0.1:8000" in warning.msg
