"""The WSGI application gunicorn serves (``postmark_clone.wsgi``), over a real
socket: /t/ paths answered by the fast path, everything else by Django."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from tracking import buffer, tokens
from tracking.rewrite import click_url, open_url

from .helpers import IPHONE, drain, path_of, send_tracked

pytestmark = pytest.mark.django_db(transaction=True)


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        return


@pytest.fixture
def served() -> Iterator[tuple[str, int]]:
    from postmark_clone.wsgi import application

    server = make_server("127.0.0.1", 0, application, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_port
    server.shutdown()
    server.server_close()


def request(where, method: str, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(*where, timeout=10)
    conn.request(method, path, headers={"User-Agent": IPHONE})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def test_the_fast_path_answers_and_records_like_the_django_views(served, api, tenant):
    row = send_tracked(api, tenant).recipients.get()
    pixel = request(served, "GET", path_of(open_url(row.id)))
    assert (pixel.status, pixel.getheader("Content-Type")) == (200, "image/gif")
    assert pixel.body.startswith(b"GIF89a")
    assert "no-store" in pixel.getheader("Cache-Control")
    click = request(served, "GET", path_of(click_url(row.id, "https://a.example/x")))
    assert (click.status, click.getheader("Location")) == (302, "https://a.example/x")
    head = request(served, "HEAD", path_of(click_url(row.id, "https://a.example/y")))
    assert head.status == 302
    assert drain() == 2
    body = api.get(
        "/messages/outbound/clicks", {"count": 5, "offset": 0}, **tenant.server_headers
    ).json()
    assert [c["OriginalLink"] for c in body["Clicks"]] == ["https://a.example/x"]


def test_the_fast_path_refuses_forged_tokens_without_redirecting(served):
    forged = tokens.encode(
        tokens.Token(kind="h", recipient_id=1, url="https://evil.example/")
    )
    for path in (f"/t/c/{forged[:-1]}x", "/t/c/evil", f"/t/o/{forged}"):
        response = request(served, "GET", path)
        assert response.status == 404
        assert response.getheader("Location") is None
    assert buffer.hits_pending() == 0


def test_other_paths_and_methods_still_reach_django(served):
    api = request(served, "GET", "/server")
    assert api.status == 401
    assert b'"ErrorCode":10' in api.body.replace(b" ", b"")
    post = request(served, "POST", "/t/o/abc")
    assert post.status == 405
