"""Over real sockets, end to end: POST /email to the live server → a real Celery
worker delivers to an aiosmtpd sink → the test fetches the pixel and a link of
the delivered copy over HTTP → the worker drains the hits → the open and click
appear in the API, on the message page and at a real HTTP webhook receiver."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from celery.contrib.testing.worker import start_worker

from postmark_clone.celery import app
from tests.factories import Tenant, make_tenant
from tests.messages.delivery_helpers import wait_for
from webhooks.models import Webhook, default_triggers

from .helpers import IPHONE

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def worker(sink) -> Iterator[object]:
    app.control.purge()
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as running:
        yield running


@pytest.fixture
def live_tenant(transactional_db) -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def hooks() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.append({"path": self.path, "body": json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _get(url: str, ua: str) -> http.client.HTTPResponse:
    """One GET over a fresh socket, redirects not followed."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", parts.path, headers={"User-Agent": ua})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_a_delivered_tracked_copy_reports_its_open_and_click_everywhere(
    live_server, live_tenant, sink, pool_to, worker, hooks, settings, client
):
    settings.TRACKING_BASE_URL = live_server.url
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    hook_url, received = hooks
    pool_to(sink.port)
    server = live_tenant.server
    # A legacy OpenHookUrl on the server and a stream webhook for clicks.
    server.open_hook_url = f"{hook_url}/opens"
    server.save()
    Webhook.objects.create(
        server=server,
        message_stream="outbound",
        url=f"{hook_url}/clicks",
        triggers={**default_triggers(), "Click": {"Enabled": True}},
    )
    headers = {"X-Postmark-Server-Token": live_tenant.server_token}
    sent = requests.post(
        f"{live_server.url}/email",
        json={
            "From": live_tenant.sender,
            "To": "alice@example.org",
            "Subject": "Spring sale",
            "HtmlBody": '<p>Hi</p><a href="https://shop.example.com/sale">Sale</a>',
            "TextBody": "Hi https://shop.example.com/sale",
            "TrackOpens": True,
            "TrackLinks": "HtmlAndText",
            "Metadata": {"campaign": "spring"},
        },
        headers=headers,
        timeout=10,
    ).json()
    message_id = sent["MessageID"]

    delivered = wait_for(lambda: sink.state.received)[0]
    mail = BytesParser(policy=policy.default).parsebytes(delivered.data)
    html = mail.get_body(("html",)).get_content()
    pixel = html.split('src="')[1].split('"')[0]
    link = html.split('href="')[1].split('"')[0]
    assert pixel.startswith(f"{live_server.url}/t/o/")
    assert link.startswith(f"{live_server.url}/t/c/")

    opened = _get(pixel, IPHONE)
    assert (opened.status, opened.getheader("Content-Type")) == (200, "image/gif")
    clicked = _get(link, IPHONE)
    assert clicked.status == 302
    assert clicked.getheader("Location") == "https://shop.example.com/sale"

    # The API (over HTTP) once the worker drained the hits.
    def api(path: str) -> dict:
        return requests.get(
            f"{live_server.url}{path}",
            params={"count": 10, "offset": 0},
            headers=headers,
            timeout=10,
        ).json()

    opens = wait_for(lambda: api("/messages/outbound/opens")["Opens"])
    assert opens[0]["MessageID"] == message_id
    assert opens[0]["Recipient"] == "alice@example.org"
    assert opens[0]["Platform"] == "Mobile"
    clicks = wait_for(lambda: api(f"/messages/outbound/clicks/{message_id}")["Clicks"])
    assert clicks[0]["OriginalLink"] == "https://shop.example.com/sale"
    assert clicks[0]["ClickLocation"] == "HTML"
    details = api(f"/messages/outbound/{message_id}/details")
    types = [e["Type"] for e in details["MessageEvents"]]
    assert {"Delivered", "Opened", "LinkClicked"} <= set(types)

    # The webhooks, at a real HTTP receiver.
    wait_for(lambda: len(received) >= 2)
    by_path = {r["path"]: r["body"] for r in received}
    assert by_path["/opens"]["RecordType"] == "Open"
    assert by_path["/opens"]["FirstOpen"] is True
    assert by_path["/opens"]["Metadata"] == {"campaign": "spring"}
    assert by_path["/clicks"]["RecordType"] == "Click"
    assert by_path["/clicks"]["OriginalLink"] == "https://shop.example.com/sale"

    # The message page.
    from tests.web.conftest import make_user

    client.force_login(make_user(live_tenant))
    page = client.get(f"/ui/servers/{server.id}/messages/{message_id}")
    text = page.content.decode()
    assert page.status_code == 200
    assert 'class="opens-count">1<' in text
    assert "https://shop.example.com/sale" in text
