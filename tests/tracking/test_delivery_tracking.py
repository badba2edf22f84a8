"""Per-recipient tracked copies at delivery (real SMTP sink on a socket)."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from urllib.parse import urlsplit

import pytest

from messages.archive import archive_get
from messages.delivery import delivery_run
from messages.dkim import dkim_verify
from tracking import tokens

from .helpers import send_tracked

pytestmark = pytest.mark.django_db


def _parsed(data: bytes):
    return BytesParser(policy=policy.default).parsebytes(data)


def _tokens(body: str, kind: str) -> list[tokens.Token]:
    found = []
    for piece in body.split(f"/t/{kind}/")[1:]:
        text = ""
        for ch in piece:
            if not (ch.isalnum() or ch in "-_"):
                break
            text += ch
        decoded = tokens.decode(text)
        assert decoded is not None, text
        found.append(decoded)
    return found


def test_each_recipient_gets_its_own_signed_tracked_copy(
    api, tenant, sink, pool_to, settings
):
    settings.TRACKING_BASE_URL = "https://track.example.net"
    pool_to(sink.port)
    message = send_tracked(api, tenant, To="alice@example.org, bob@example.org")
    archived = archive_get(key=message.archive_key)

    delivery_run(message_ids=[message.id])

    assert len(sink.state.received) == 2
    published = {tenant.domain.dkim_host: tenant.domain.dkim_text_value}
    rows = {r.email: r.id for r in message.recipients.all()}
    for received in sink.state.received:
        assert dkim_verify(message=received.data, txt_lookup=published.get)
        row_id = rows[received.rcpt_tos[0]]
        mail = _parsed(received.data)
        html = mail.get_body(("html",)).get_content()
        text = mail.get_body(("plain",)).get_content()
        assert "https://track.example.net/t/o/" in html
        assert [t.recipient_id for t in _tokens(html, "o")] == [row_id]
        clicks = _tokens(html, "c")
        assert [(t.recipient_id, t.url, t.click_location) for t in clicks] == [
            (row_id, "https://shop.example.com/sale?a=1&b=2", "HTML")
        ]
        text_clicks = _tokens(text, "c")
        assert [(t.url, t.click_location) for t in text_clicks] == [
            ("https://shop.example.com/sale?a=1&b=2", "Text")
        ]
        assert text.rstrip().endswith(".")  # the sentence's full stop stays put
    # The archive keeps the original, untouched.
    assert archive_get(key=message.archive_key) == archived
    assert b"/t/o/" not in archived
    stats = api.get("/stats/outbound", **tenant.server_headers).json()
    assert stats["Tracked"] == 2
    assert stats["WithOpenTracking"] == 2
    assert stats["WithLinkTracking"] == 2
    assert stats["TotalTrackedLinksSent"] == 4


def test_server_defaults_apply_when_the_message_says_nothing(
    api, tenant, sink, pool_to
):
    tenant.server.track_opens = True
    tenant.server.track_links = "HtmlOnly"
    tenant.server.save()
    pool_to(sink.port)
    message = send_tracked(api, tenant, TrackOpens=None, TrackLinks=None)
    assert message.track_opens and message.track_links == "HtmlOnly"

    delivery_run(message_ids=[message.id])

    mail = _parsed(sink.state.received[0].data)
    assert "/t/o/" in mail.get_body(("html",)).get_content()
    assert "/t/c/" in mail.get_body(("html",)).get_content()
    assert "/t/c/" not in mail.get_body(("plain",)).get_content()


def test_untracked_messages_go_out_as_archived(api, tenant, sink, pool_to):
    pool_to(sink.port)
    message = send_tracked(api, tenant, TrackOpens=False, TrackLinks="None")

    delivery_run(message_ids=[message.id])

    data = sink.state.received[0].data
    assert b"/t/" not in data
    assert data.endswith(archive_get(key=message.archive_key))
    stats = api.get("/stats/outbound", **tenant.server_headers).json()
    assert stats["Tracked"] == 0


def test_a_pixel_url_in_the_copy_records_the_open_for_that_recipient(
    api, tenant, sink, pool_to, client
):
    from .helpers import drain

    pool_to(sink.port)
    message = send_tracked(api, tenant, To="alice@example.org, bob@example.org")
    delivery_run(message_ids=[message.id])
    bob = next(r for r in sink.state.received if r.rcpt_tos == ["bob@example.org"])
    html = _parsed(bob.data).get_body(("html",)).get_content()
    src = html.split('src="')[1].split('"')[0]
    assert client.get(urlsplit(src).path).status_code == 200
    drain()
    body = api.get(
        f"/messages/outbound/opens/{message.message_id}",
        {"count": 10, "offset": 0},
        **tenant.server_headers,
    ).json()
    assert [o["Recipient"] for o in body["Opens"]] == ["bob@example.org"]


def test_smtp_submissions_are_tracked_per_their_x_pm_headers(tenant, sink, pool_to):
    from smtp_ingest import core

    pool_to(sink.port)
    data = (
        f"From: Acme <{tenant.sender}>\r\nTo: alice@example.org\r\nSubject: Hi\r\n"
        "X-PM-TrackOpens: true\r\nX-PM-TrackLinks: TextOnly\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Visit https://acme.example.com/ today\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<p><a href="https://acme.example.com/">Visit</a></p>\r\n--b--\r\n'
    ).encode()
    reply = core.submit(
        server=tenant.server,
        mail_from=tenant.sender,
        rcpt_tos=["alice@example.org"],
        data=data,
    )
    assert reply.code == 250, reply
    message = tenant.server.messages.get()
    assert (message.track_opens, message.track_links) == (True, "TextOnly")

    delivery_run(message_ids=[message.id])

    received = sink.state.received[0].data
    assert b"X-PM-Track" not in received
    mail = _parsed(received)
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert "/t/o/" in html
    assert 'href="https://acme.example.com/"' in html
    assert [t.url for t in _tokens(text, "c")] == ["https://acme.example.com/"]


def test_opens_and_clicks_go_with_their_message(api, tenant, hit):
    from tracking.models import Click, Open

    from .helpers import drain

    message = send_tracked(api, tenant)
    row = message.recipients.get()
    hit(row)
    hit(row, url="https://shop.example.com/")
    drain()
    assert Open.objects.count() == 1 and Click.objects.count() == 1
    message.delete()  # what the retention purge does
    assert Open.objects.count() == 0 and Click.objects.count() == 0
