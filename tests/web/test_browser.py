"""The web UI in a real browser: headless Debian Chromium driven by Playwright
against pytest-django's live server. Screenshots of each main page are saved in
test-artifacts/web/ (gitignored) for people to look at."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.conf import settings
from playwright.sync_api import Browser, Page, expect, sync_playwright

from accounts.models import ServerToken
from bounces.models import Bounce
from tests.factories import make_tenant

from .conftest import PASSWORD, deliver, hard_bounce, make_user, send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts" / "web"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an asyncio loop running in this thread while it
    # is open; the ORM calls the tests make between browser steps are still plain
    # synchronous code. Module scope: the loop (and the override) end with this
    # module, so other test modules keep Django's safety check.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def shot(page: Page, name: str) -> None:
    # Chromium paints an out-of-process frame (the sandboxed preview) only once
    # it has been on screen; scroll it into view before the full-page capture.
    page.wait_for_load_state("load")
    frames = page.locator("iframe.preview")
    if frames.count():
        frames.first.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, live_server, email: str) -> None:
    page.goto(live_server.url + "/ui/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Servers")).to_be_visible()


@pytest.fixture
def demo(transactional_db):
    tenant = make_tenant("acme")
    other = make_tenant("globex")
    user = make_user(tenant)
    for i, to in enumerate(
        ["dora@example.org", "eve@example.org", "frank@example.org"]
    ):
        message = send(
            tenant, to=to, subject=f"Your receipt #{1000 + i}", tag="receipt"
        )
        deliver(message, to)
    message = send(
        tenant, to="alice@example.org, bob@example.org", subject="Welcome aboard"
    )
    deliver(message, "alice@example.org")
    bounce = hard_bounce(tenant, message, "bob@example.org")
    send(other, to="alice@example.org", subject="Globex secret")
    return {"tenant": tenant, "user": user, "message": message, "bounce": bounce}


class RemoteImageServer:
    """A local stand-in for a tracking-pixel host: records every request."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(
                    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!"
                    b"\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00"
                    b"\x00\x02\x02D\x01\x00;"
                )

            def log_message(self, *args) -> None:
                return

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def remote_images() -> Iterator[RemoteImageServer]:
    server = RemoteImageServer()
    yield server
    server.close()


def test_sign_in_search_by_recipient_and_open_a_message_with_its_events(
    page: Page, live_server, demo
):
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text) if msg.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(live_server.url + "/ui/login")
    shot(page, "01-login")
    sign_in(page, live_server, demo["user"].email)
    expect(page.get_by_text("Globex")).to_have_count(0)
    shot(page, "02-servers")
    page.get_by_role("link", name="acme server").click()
    expect(page.get_by_role("link", name="Activity")).to_have_attribute(
        "aria-current", "page"
    )
    shot(page, "03-activity")

    page.get_by_label("Recipient").fill("bob@")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"recipient=bob%40"))
    rows = page.locator("tbody .row-link")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_text("Welcome aboard")
    rows.first.click()

    timeline = page.locator(".timeline")
    expect(timeline.get_by_text("Delivered", exact=True)).to_be_visible()
    expect(timeline.get_by_text("Bounced", exact=True)).to_be_visible()
    expect(timeline.get_by_text("550 5.1.1 user unknown")).to_be_visible()
    preview = page.frame_locator("iframe.preview")
    expect(preview.locator("b")).to_have_text("there")  # the HTML part renders
    shot(page, "04-message")
    page.get_by_role("tab", name="Headers").click()
    expect(page.locator("#headers-part")).to_contain_text("X-PM-Message-Id")
    expect(page.locator("#html-part")).to_be_hidden()
    page.get_by_role("tab", name="Raw source").click()
    expect(page.locator("#raw-part pre")).to_contain_text("Subject: Welcome aboard")
    # Our own pages trip none of their CSP rules and raise no script errors.
    assert problems == []


def test_open_a_bounce_read_its_report_and_reactivate_it(page: Page, live_server, demo):
    sign_in(page, live_server, demo["user"].email)
    server_id = demo["tenant"].server.id
    page.goto(f"{live_server.url}/ui/servers/{server_id}/bounces")
    expect(page.get_by_role("link", name="Hard bounce 1")).to_be_visible()
    shot(page, "05-bounces")
    page.get_by_role("link", name="bob@example.org").click()
    expect(page.locator("pre.source")).to_contain_text("Status: 5.1.1")
    expect(page.locator("#bounce-state")).to_have_text("Inactive")
    shot(page, "06-bounce")
    page.get_by_role("button", name="Reactivate bob@example.org").click()
    expect(page.get_by_text("bob@example.org is active again.")).to_be_visible()
    expect(page.locator("#bounce-state")).to_have_text("Active")
    assert not Bounce.objects.get(id=demo["bounce"].id).inactive


def test_revoke_a_token_from_settings(page: Page, live_server, demo):
    tenant = demo["tenant"]
    sign_in(page, live_server, demo["user"].email)
    payload = {
        "From": tenant.sender,
        "To": "x@example.org",
        "Subject": "s",
        "TextBody": "t",
    }
    headers = {
        "X-Postmark-Server-Token": tenant.server_token,
        "Accept": "application/json",
    }
    assert (
        requests.post(
            live_server.url + "/email", json=payload, headers=headers, timeout=10
        ).status_code
        == 200
    )

    page.goto(f"{live_server.url}/ui/servers/{tenant.server.id}/settings")
    shot(page, "07-settings")
    token = ServerToken.objects.get(server=tenant.server)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Revoke token {token.masked}").click()
    expect(page.get_by_text(f"Token {token.masked} revoked")).to_be_visible()
    expect(page.locator(f"#token-{token.id}")).to_have_count(0)
    refused = requests.post(
        live_server.url + "/email", json=payload, headers=headers, timeout=10
    )
    assert refused.status_code == 401


def test_cancelling_the_confirmation_keeps_the_token(page: Page, live_server, demo):
    tenant = demo["tenant"]
    sign_in(page, live_server, demo["user"].email)
    page.goto(f"{live_server.url}/ui/servers/{tenant.server.id}/settings")
    token = ServerToken.objects.get(server=tenant.server)
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name=f"Revoke token {token.masked}").click()
    expect(page.locator(f"#token-{token.id}")).to_be_visible()
    token.refresh_from_db()
    assert token.revoked_at is None


def test_an_xss_email_stays_inert_and_loads_nothing_remote(
    page: Page, live_server, demo, remote_images
):
    tenant = demo["tenant"]
    evil_html = f"""
      <html><head><meta http-equiv="refresh" content="0;url={remote_images.url}/refresh"></head>
      <body>
        <h1>Totally normal newsletter</h1>
        <script>
          window.__pwned = 1;
          try {{ parent.__pwned = 1; parent.document.title = "pwned"; }} catch (e) {{}}
          document.body.setAttribute("data-script-ran", "1");
        </script>
        <img src="x" onerror="document.body.setAttribute('data-onerror-ran', '1'); parent.__pwned = 2">
        <img id="pixel" src="{remote_images.url}/pixel.gif" width="20" height="20" alt="pixel">
        <div style="background-image: url({remote_images.url}/background.gif)">styled</div>
        <a href="javascript:parent.__pwned=3" id="jslink">click me</a>
        <svg onload="parent.__pwned = 4"></svg>
        <iframe src="{remote_images.url}/frame"></iframe>
      </body></html>
    """
    message = send(
        tenant, to="victim@example.org", subject="XSS test", html_body=evil_html
    )
    sign_in(page, live_server, demo["user"].email)
    page.goto(
        f"{live_server.url}/ui/servers/{tenant.server.id}/messages/{message.message_id}"
    )
    frame_element = page.locator("iframe.preview")
    expect(frame_element).to_be_visible()
    frame = page.frame_locator("iframe.preview")
    expect(
        frame.get_by_role("heading", name="Totally normal newsletter")
    ).to_be_visible()
    frame.locator("#jslink").click()
    page.wait_for_timeout(1000)
    shot(page, "08-xss-message")

    assert page.evaluate("window.__pwned") is None
    assert page.title() != "pwned"
    body = frame.locator("body")
    assert body.get_attribute("data-script-ran") is None
    assert body.get_attribute("data-onerror-ran") is None
    assert remote_images.hits == []

    # Opened directly (not framed), the preview URL is still inert: the CSP
    # `sandbox` directive applies to a top-level document too.
    page.goto(
        f"{live_server.url}/ui/servers/{tenant.server.id}/messages/{message.message_id}/html"
    )
    expect(
        page.get_by_role("heading", name="Totally normal newsletter")
    ).to_be_visible()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("body").get_attribute("data-script-ran") is None
    assert remote_images.hits == []

    # Only when the user asks do remote images load -- and scripts still do not.
    page.goto(
        f"{live_server.url}/ui/servers/{tenant.server.id}/messages/{message.message_id}"
    )
    page.get_by_role("link", name="Load remote images").click()
    frame = page.frame_locator("iframe.preview")
    expect(frame.locator("#pixel")).to_be_visible()
    page.wait_for_function("() => true")
    for _ in range(50):
        if "/pixel.gif" in remote_images.hits:
            break
        page.wait_for_timeout(100)
    assert "/pixel.gif" in remote_images.hits
    assert "/refresh" not in remote_images.hits and "/frame" not in remote_images.hits
    assert page.evaluate("window.__pwned") is None
    assert frame.locator("body").get_attribute("data-script-ran") is None


def test_statistics_suppressions_and_team_pages_render(page: Page, live_server, demo):
    tenant = demo["tenant"]
    sign_in(page, live_server, demo["user"].email)
    page.goto(f"{live_server.url}/ui/servers/{tenant.server.id}/statistics")
    expect(page.locator("figure.chart svg")).to_have_count(6)
    expect(page.locator(".chart-sent .chart-total")).to_have_text("4")
    shot(page, "09-statistics")

    page.goto(f"{live_server.url}/ui/servers/{tenant.server.id}/suppressions")
    page.get_by_label("Addresses to suppress").fill("spammy@example.org")
    page.get_by_role("button", name="Suppress on outbound").click()
    expect(page.get_by_text("Suppressed 1 address(es).")).to_be_visible()
    expect(page.locator("tbody")).to_contain_text("spammy@example.org")
    shot(page, "10-suppressions")

    page.goto(f"{live_server.url}/ui/accounts/{tenant.account.id}/team")
    shot(page, "11-team")


def test_the_keyboard_reaches_the_skip_link_and_the_tabs(page: Page, live_server, demo):
    sign_in(page, live_server, demo["user"].email)
    page.goto(f"{live_server.url}/ui/servers/{demo['tenant'].server.id}/activity")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # After skipping, focus moves into the main content (the filters), past the nav.
    expect(page.get_by_label("Recipient")).to_be_focused()


def test_the_pages_fit_a_phone_screen(browser: Browser, live_server, demo):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True
    )
    tab = context.new_page()
    try:
        sign_in(tab, live_server, demo["user"].email)
        base = f"{live_server.url}/ui/servers/{demo['tenant'].server.id}"
        for name, path in (
            ("12-activity-phone", "/activity"),
            ("13-message-phone", f"/messages/{demo['message'].message_id}"),
            ("14-bounces-phone", "/bounces"),
            ("15-settings-phone", "/settings"),
            ("16-statistics-phone", "/statistics"),
        ):
            tab.goto(base + path)
            # Against the device width: a mobile browser widens its layout
            # viewport (innerWidth) to fit content that overflows.
            overflow = tab.evaluate("document.documentElement.scrollWidth - 390")
            assert overflow <= 1, (path, overflow)
            shot(tab, name)
    finally:
        context.close()


def test_everything_works_without_javascript(browser: Browser, live_server, demo):
    context = browser.new_context(java_script_enabled=False)
    tab = context.new_page()
    try:
        sign_in(tab, live_server, demo["user"].email)
        base = f"{live_server.url}/ui/servers/{demo['tenant'].server.id}"
        tab.goto(f"{base}/messages/{demo['message'].message_id}")
        # All content panels are simply shown one after another.
        expect(tab.locator("#headers-part")).to_be_visible()
        expect(tab.locator("#raw-part pre")).to_contain_text("Subject: Welcome aboard")
        tab.goto(f"{base}/bounces/{demo['bounce'].id}")
        tab.get_by_role("button", name="Reactivate bob@example.org").click()
        expect(tab.locator("#bounce-state")).to_have_text("Active")
    finally:
        context.close()
