from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """A real HTTP endpoint on an ephemeral port. ``statuses`` are answered in
    order (the last one repeats); an item may be ``(status, {header: value})``.
    Every request is kept in ``requests``."""

    url: str
    statuses: list = field(default_factory=lambda: [200])
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def next_answer(self) -> tuple[int, dict[str, str]]:
        item = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return item if isinstance(item, tuple) else (item, {})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            rec = state["r"]
            rec.requests.append(Received(self.path, dict(self.headers.items()), body))
            status, headers = rec.next_answer()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")
            rec.arrived.set()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    state["r"] = Receiver(url=f"http://{host}:{port}/hook")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["r"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook_settings(settings):
    """Tests talk to 127.0.0.1 receivers and use a short retry schedule."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOK_RETRY_DELAYS = [0, 0]
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    return settings
