"""Opens and clicks in a real browser: headless Chromium loads a tracked copy
(the pixel over HTTP from the live server), follows a tracked link (302 to a
local landing page), and the user then sees both on the message page and the
statistics page."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from django.conf import settings
from playwright.sync_api import Browser, Page, expect, sync_playwright

from messages.archive import archive_get
from tests.factories import make_tenant
from tracking import buffer
from tracking.rewrite import personalize

from .conftest import PASSWORD, deliver, make_user, send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def landing() -> Iterator[str]:
    """The shop the tracked link leads to."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<title>Landing</title><h1>Spring sale</h1>")

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sale"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def clean_buffer() -> Iterator[None]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(buffer.KEY, buffer.FLAG, buffer.LOCK)
    yield
    client.delete(buffer.KEY, buffer.FLAG, buffer.LOCK)


def test_an_open_and_a_click_show_on_the_message_and_statistics_pages(
    page: Page, live_server, landing, settings, transactional_db
):
    settings.TRACKING_BASE_URL = live_server.url
    tenant = make_tenant("acme")
    user = make_user(tenant)
    message = send(
        tenant,
        subject="Spring sale",
        html_body=f'<html><body><p>Hi</p><a id="go" href="{landing}">Shop now</a>'
        "</body></html>",
        track_opens=True,
        track_links="HtmlOnly",
    )
    deliver(message, "alice@example.org")
    row = message.recipients.get()
    copy = personalize(
        archive_get(key=message.archive_key),
        recipient_id=row.id,
        track_opens=True,
        track_links="HtmlOnly",
    )
    mail = BytesParser(policy=policy.default).parsebytes(copy.data)
    html = mail.get_body(("html",)).get_content()

    # The reader's mail client renders the copy (pixel fetched from the live
    # server) and the reader clicks the link.
    with page.expect_response(lambda r: "/t/o/" in r.url) as pixel:
        page.set_content(html)
    assert pixel.value.status == 200
    assert pixel.value.headers["content-type"] == "image/gif"
    page.click("#go")
    expect(page).to_have_title("Landing")
    assert page.url == landing
    assert buffer.hits_drain() == 2

    page.goto(live_server.url + "/ui/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Servers")).to_be_visible()

    page.goto(
        f"{live_server.url}/ui/servers/{tenant.server.id}/messages/{message.message_id}"
    )
    section = page.locator("#tracking")
    expect(section.get_by_role("heading", name="Opens and clicks")).to_be_visible()
    expect(section.locator(".opens-count")).to_have_text("1")
    expect(section.locator(".clicks-count")).to_have_text("1")
    expect(section.locator("table.opens")).to_contain_text("alice@example.org")
    expect(section.locator("table.opens")).to_contain_text("Desktop")
    expect(section.locator("table.clicks")).to_contain_text(landing)
    expect(section.locator("table.clicks")).to_contain_text("HTML")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("Opened")
    expect(timeline).to_contain_text("LinkClicked")

    page.goto(f"{live_server.url}/ui/servers/{tenant.server.id}/statistics")
    expect(page.locator(".chart-opens .chart-total")).to_have_text("1")
    expect(page.locator(".chart-clicks .chart-total")).to_have_text("1")
