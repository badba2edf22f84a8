"""Fixtures for driving real client libraries against a live test server."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.factories import Tenant, make_tenant


@pytest.fixture
def live_tenant(transactional_db) -> Tenant:
    """A tenant committed to the database, so the live server thread sees it."""
    return make_tenant("acme")


@pytest.fixture
def live_other_tenant(transactional_db) -> Tenant:
    return make_tenant("globex")


@pytest.fixture(autouse=True)
def _live_server_connections_closed(live_server):
    """After each test, wait until the live server's request threads have closed
    their database connections, or pytest-django cannot drop the test database.

    A thread lives as long as its client's keep-alive socket; a client exception
    caught by ``pytest.raises`` keeps the response (and that socket) alive in a
    reference cycle, so collect garbage first to let the socket close.
    """
    yield
    from django.db import connection

    gc.collect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.02)


NODE_DIR = Path(__file__).resolve().parent / "node"


class NodeClient:
    """The official Postmark Node.js client (``postmark`` on npm), unmodified.

    ``call("sendEmail", {...})`` runs one client method in a fresh ``node``
    process against the live server and returns its result; a client error
    comes back as ``NodeClientError`` carrying Postmark's ``code`` and HTTP
    ``statusCode`` as the client reported them.
    """

    def __init__(self, host: str, token: str, kind: str) -> None:
        self.host, self.token, self.kind = host, token, kind

    def call(self, method: str, *args):
        request = {"client": self.kind, "token": self.token, "method": method}
        request["args"] = list(args)
        proc = subprocess.run(
            ["node", str(NODE_DIR / "call.mjs")],
            input=json.dumps(request).encode(),
            capture_output=True,
            env={**os.environ, "POSTMARK_TEST_HOST": self.host},
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"node failed: {proc.stderr.decode(errors='replace')}")
        answer = json.loads(proc.stdout)
        if not answer["ok"]:
            raise NodeClientError(answer["error"])
        return answer["result"]


class NodeClientError(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(error.get("message"))
        self.code = error.get("code")
        self.status_code = error.get("statusCode")
        self.name = error.get("name")


@pytest.fixture
def node_client(live_server):
    """``node_client(token)`` → a server client; ``kind="account"`` for an account
    client. Needs ``node`` and ``tests/compat/node/node_modules`` (make install)."""
    if not (NODE_DIR / "node_modules" / "postmark").is_dir():
        pytest.fail("run `make install`: tests/compat/node/node_modules is missing")
    host = urlsplit(live_server.url).netloc

    def build(token: str, kind: str = "server") -> NodeClient:
        return NodeClient(host, token, kind)

    return build
