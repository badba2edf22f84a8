"""The /t/o and /t/c endpoints through Django, the Redis buffer, and the drain
into records, message events and counters."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from messages.models import MessageEvent
from tracking import buffer, tokens
from tracking.models import Click, Open
from tracking.rewrite import click_url
from tracking.views import PIXEL

from .helpers import CHROME_MAC, GMAIL, IPHONE, drain, path_of, send_tracked

pytestmark = pytest.mark.django_db


def test_the_pixel_is_a_transparent_gif_that_is_never_cached(api, tenant, hit):
    row = send_tracked(api, tenant).recipients.get()
    response = hit(row, ua=IPHONE)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content == PIXEL and PIXEL.startswith(b"GIF89a")
    assert "no-cache" in response["Cache-Control"]


def test_a_hit_waits_in_redis_until_drained(api, tenant, hit):
    row = send_tracked(api, tenant).recipients.get()
    hit(row, ua=IPHONE)
    assert buffer.hits_pending() == 1
    assert not Open.objects.exists()
    assert drain() == 1
    assert buffer.hits_pending() == 0
    opened = Open.objects.get()
    assert (opened.recipient, opened.first_open, opened.platform) == (
        "alice@example.org",
        True,
        "Mobile",
    )
    assert opened.os_family == "iOS"
    assert opened.client_name == "Apple Mail"
    assert str(opened.ip) == "127.0.0.1"


def test_only_the_first_open_per_recipient_is_stored_but_all_are_counted(
    api, tenant, hit
):
    message = send_tracked(api, tenant, To="a@example.org, b@example.org")
    a, b = message.recipients.order_by("email")
    hit(a, ua=GMAIL)
    hit(a, ua=IPHONE)
    hit(b, ua=CHROME_MAC)
    drain()
    hit(a, ua=IPHONE)
    drain()
    opens = {o.recipient: o for o in Open.objects.all()}
    assert set(opens) == {"a@example.org", "b@example.org"}
    assert opens["a@example.org"].client_name == "Gmail"
    assert opens["a@example.org"].platform == "WebMail"
    assert opens["b@example.org"].platform == "Desktop"
    opened = MessageEvent.objects.filter(message=message, type="Opened")
    assert opened.count() == 2
    response = api.get("/stats/outbound/opens", **tenant.server_headers)
    assert response.json()["Opens"] == 4
    assert response.json()["Unique"] == 2


def test_a_click_redirects_to_the_original_and_is_unique_per_link(api, tenant, hit):
    row = send_tracked(api, tenant).recipients.get()
    first = hit(row, url="https://shop.example.com/sale?a=1&b=2", ua=CHROME_MAC)
    assert first.status_code == 302
    assert first["Location"] == "https://shop.example.com/sale?a=1&b=2"
    hit(row, url="https://shop.example.com/sale?a=1&b=2", ua=CHROME_MAC)
    hit(row, url="https://shop.example.com/other", ua=CHROME_MAC, text=True)
    drain()
    clicks = list(Click.objects.order_by("id"))
    assert [(c.original_link, c.click_location) for c in clicks] == [
        ("https://shop.example.com/sale?a=1&b=2", "HTML"),
        ("https://shop.example.com/other", "Text"),
    ]
    assert clicks[0].client_family == "Chrome"
    events = MessageEvent.objects.filter(type="LinkClicked").order_by("id")
    assert [e.details["Link"] for e in events] == [c.original_link for c in clicks]
    stats = api.get("/stats/outbound/clicks", **tenant.server_headers).json()
    assert (stats["Clicks"], stats["Unique"]) == (3, 2)


@pytest.mark.parametrize("prefix", ["/t/c/", "/t/o/"])
def test_forged_and_altered_tokens_get_a_404_and_no_redirect(
    api, tenant, client, prefix
):
    row = send_tracked(api, tenant).recipients.get()
    good = path_of(click_url(row.id, "https://shop.example.com/")).rsplit("/", 1)[1]
    altered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    forged = tokens.encode(
        tokens.Token(kind="h", recipient_id=row.id, url="https://evil.example/")
    )[:-1]
    for token in (altered, forged, "https%3A%2F%2Fevil.example", "x"):
        response = client.get(prefix + token)
        assert response.status_code == 404
        assert "Location" not in response
    assert buffer.hits_pending() == 0


def test_an_open_token_is_not_a_click_token_and_back(api, tenant, client):
    row = send_tracked(api, tenant).recipients.get()
    click = path_of(click_url(row.id, "https://shop.example.com/")).rsplit("/", 1)[1]
    open_token = tokens.encode(tokens.Token(kind="o", recipient_id=row.id))
    assert client.get(f"/t/o/{click}").status_code == 404
    assert client.get(f"/t/c/{open_token}").status_code == 404


def test_tokens_are_case_sensitive_paths_not_lowercased(api, tenant, hit):
    row = send_tracked(api, tenant).recipients.get()
    # A token with upper-case letters still works (the API lower-cases paths).
    assert hit(row).status_code == 200


def test_hits_for_purged_recipients_are_dropped(api, tenant, hit):
    message = send_tracked(api, tenant)
    row = message.recipients.get()
    hit(row)
    message.delete()
    assert drain() == 1
    assert not Open.objects.exists()


def test_head_requests_are_answered_but_not_recorded(api, tenant, client):
    row = send_tracked(api, tenant).recipients.get()
    response = client.head(path_of(click_url(row.id, "https://shop.example.com/")))
    assert response.status_code == 302
    assert buffer.hits_pending() == 0


def test_without_redis_hits_are_recorded_in_the_request(api, tenant, hit, settings):
    row = send_tracked(api, tenant).recipients.get()
    settings.REDIS_URL = ""
    hit(row, ua=IPHONE)
    assert Open.objects.filter(recipient="alice@example.org").exists()


def test_a_drain_while_another_holds_the_lock_leaves_the_hits(api, tenant, hit):
    row = send_tracked(api, tenant).recipients.get()
    hit(row)
    held = redis.Redis.from_url(settings.REDIS_URL).lock(buffer.LOCK, timeout=30)
    assert held.acquire(blocking=False)
    try:
        assert buffer.hits_drain() is None
        assert buffer.hits_pending() == 1
    finally:
        held.release()
    assert drain() == 1


def test_with_redis_down_hits_are_recorded_in_the_request(api, tenant, hit, settings):
    from .helpers import closed_port

    row = send_tracked(api, tenant).recipients.get()
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = hit(row, url="https://shop.example.com/", ua=IPHONE)
    assert response.status_code == 302
    assert Click.objects.filter(original_link="https://shop.example.com/").exists()


def test_a_hit_without_a_usable_client_address_is_still_recorded(api, tenant):
    from datetime import UTC, datetime

    from tracking.services import Hit, tracking_hits_record

    row = send_tracked(api, tenant).recipients.get()
    token = tokens.Token(kind="o", recipient_id=row.id)
    for ip in ("", "unix:/run/gunicorn.sock"):
        tracking_hits_record(
            hits=[Hit(token=token, at=datetime.now(tz=UTC), ip=ip, user_agent="")]
        )
    opened = Open.objects.get()
    assert opened.ip is None and opened.platform == "Unknown"
