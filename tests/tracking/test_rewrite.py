from __future__ import annotations

from email import policy
from email.parser import BytesParser
from urllib.parse import urlsplit

from tracking import tokens
from tracking.rewrite import personalize, rewrite_html, rewrite_text


def _token(url: str) -> tokens.Token:
    decoded = tokens.decode(urlsplit(url).path.rsplit("/", 1)[1])
    assert decoded is not None
    return decoded


def test_html_links_point_at_the_click_endpoint_with_the_original_inside(settings):
    settings.TRACKING_BASE_URL = "https://track.example.net"
    html, count = rewrite_html(
        '<p><a class="x" href="https://shop.example.com/?a=1&amp;b=2">Shop</a> '
        "<a href='http://plain.example.com'>Plain</a> "
        '<a href="mailto:x@example.com">Mail</a> '
        '<a data-pm-no-track href="https://secret.example.com/">Mine</a></p>',
        recipient_id=42,
        links=True,
        pixel=False,
    )
    assert count == 2
    assert 'class="x" href="https://track.example.net/t/c/' in html
    assert "mailto:x@example.com" in html
    assert 'href="https://secret.example.com/"' in html
    urls = [part.split('"')[0] for part in html.split('href="')[1:3]]
    first, second = (_token(u) for u in urls)
    assert (first.recipient_id, first.url, first.click_location) == (
        42,
        "https://shop.example.com/?a=1&b=2",
        "HTML",
    )
    assert second.url == "http://plain.example.com"


def test_the_pixel_goes_before_the_closing_body_tag(settings):
    settings.TRACKING_BASE_URL = "https://track.example.net"
    html, _ = rewrite_html(
        "<html><body><p>Hi</p></body></html>", recipient_id=5, links=False, pixel=True
    )
    assert html.startswith(
        '<html><body><p>Hi</p><img src="https://track.example.net/t/o/'
    )
    assert html.endswith("</body></html>")
    src = html.split('src="')[1].split('"')[0]
    assert _token(src) == tokens.Token(kind="o", recipient_id=5)


def test_text_links_keep_trailing_punctuation_outside():
    text, count = rewrite_text(
        "See https://a.example.com/x. Or (http://b.example.com/y)!", recipient_id=3
    )
    assert count == 2
    assert ". Or (" in text
    assert text.endswith(")!")
    assert "https://a.example.com" not in text


def _mime(html: str = "<p>Hi <a href='https://a.example.com/'>A</a></p>") -> bytes:
    return (
        "From: a@acme.example.com\r\nTo: b@example.org\r\nSubject: Hi\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="BB"\r\n\r\n'
        "--BB\r\nContent-Type: text/plain; charset=us-ascii\r\n"
        "Content-Transfer-Encoding: 7bit\r\n\r\nGo to https://a.example.com/ now\r\n"
        "--BB\r\nContent-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        f"{html}\r\n--BB--\r\n"
    ).encode()


def _parts(raw: bytes) -> tuple[str, str]:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    return (
        msg.get_body(("plain",)).get_content(),
        msg.get_body(("html",)).get_content(),
    )


def test_html_only_tracking_leaves_the_text_part_alone():
    raw = _mime()
    copy = personalize(raw, recipient_id=9, track_opens=True, track_links="HtmlOnly")
    text, html = _parts(copy.data)
    assert "Go to https://a.example.com/ now" in text
    assert "/t/c/" in html and "/t/o/" in html
    assert copy.links == 1 and copy.pixel


def test_text_only_tracking_leaves_the_html_links_alone():
    copy = personalize(
        _mime(), recipient_id=9, track_opens=False, track_links="TextOnly"
    )
    text, html = _parts(copy.data)
    assert "/t/c/" in text
    assert "https://a.example.com/" in html and "/t/" not in html


def test_no_tracking_returns_the_original_bytes():
    raw = _mime()
    assert (
        personalize(raw, recipient_id=9, track_opens=False, track_links="None").data
        is raw
    )


def test_attachments_are_never_rewritten():
    raw = (
        b"From: a@acme.example.com\r\nTo: b@example.org\r\nSubject: Hi\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="M"\r\n\r\n'
        b"--M\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>Body</p>\r\n"
        b"--M\r\nContent-Type: text/html; charset=us-ascii\r\n"
        b'Content-Disposition: attachment; filename="page.html"\r\n\r\n'
        b"<a href='https://keep.example.com/'>k</a>\r\n--M--\r\n"
    )
    copy = personalize(raw, recipient_id=1, track_opens=True, track_links="HtmlAndText")
    assert b"<a href='https://keep.example.com/'>k</a>" in copy.data
    assert copy.data.count(b"/t/o/") == 1


def test_8bit_parts_in_their_own_charsets_are_rewritten_faithfully():
    raw = (
        b"From: a@acme.example.com\r\nTo: b@example.org\r\nSubject: Hi\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="B"\r\n'
        b"\r\n--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Caf\xc3\xa9 https://a.example.com/\xc3\xa9 now\r\n"
        b"--B\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b'<p>Caf\xe9 <a href="https://a.example.com/x">go</a></p>\r\n--B--\r\n'
    )
    copy = personalize(raw, recipient_id=5, track_opens=True, track_links="HtmlAndText")
    text, html = _parts(copy.data)
    assert text.startswith("Café ") and text.rstrip().endswith(" now")
    assert html.startswith("<p>Café <a href=")
    urls = [_token(u.split()[0]).url for u in text.split("Café ")[1:]]
    assert urls == ["https://a.example.com/é"]
    assert copy.links == 2 and copy.pixel
