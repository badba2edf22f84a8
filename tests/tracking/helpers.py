"""Helpers for the tracking tests."""

from __future__ import annotations

from urllib.parse import urlsplit

from messages.models import Message
from tracking import buffer


def send_tracked(api, tenant, **overrides) -> Message:
    body = {
        "From": f"Acme <{tenant.sender}>",
        "To": "alice@example.org",
        "Subject": "Spring sale",
        "HtmlBody": '<html><body><p>Hi</p><a href="https://shop.example.com/sale?a=1&amp;b=2">Sale</a></body></html>',
        "TextBody": "Hi, see https://shop.example.com/sale?a=1&b=2.",
        "TrackOpens": True,
        "TrackLinks": "HtmlAndText",
        "Tag": "spring",
        "Metadata": {"campaign": "42"},
    }
    body.update(overrides)
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert response.status_code == 200, response.content
    return Message.objects.get(message_id=response.json()["MessageID"])


def path_of(url: str) -> str:
    return urlsplit(url).path


def drain() -> int:
    count = buffer.hits_drain()
    assert count is not None
    return count


GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)


def copy_urls(row) -> tuple[str, list[str], list[str]]:
    """``(pixel, html_links, text_links)`` of recipient ``row``'s tracked copy,
    built exactly as delivery builds it (from the archived MIME)."""
    from email import policy
    from email.parser import BytesParser

    from messages.archive import archive_get
    from tracking.rewrite import personalize

    message = row.message
    copy = personalize(
        archive_get(key=message.archive_key),
        recipient_id=row.id,
        track_opens=message.track_opens,
        track_links=message.track_links,
    )
    mail = BytesParser(policy=policy.default).parsebytes(copy.data)
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    pixel = html.split("/t/o/")[1].split('"')[0]
    links = [p.split('"')[0] for p in html.split("/t/c/")[1:]]
    text_links = [p.split()[0].rstrip(".") for p in text.split("/t/c/")[1:]]
    base = buffer.settings.TRACKING_BASE_URL.rstrip("/")
    return (
        f"{base}/t/o/{pixel}",
        [f"{base}/t/c/{p}" for p in links],
        [f"{base}/t/c/{p}" for p in text_links],
    )


def buffer_clear() -> None:
    """Empty the hit buffer (our Redis test database) so no earlier test's hits
    are drained into this one."""
    import redis

    if buffer.settings.REDIS_URL:
        redis.Redis.from_url(buffer.settings.REDIS_URL).delete(
            buffer.KEY, buffer.FLAG, buffer.LOCK
        )


def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
