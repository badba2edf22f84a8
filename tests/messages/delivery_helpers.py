"""Shared fixtures and helpers for the delivery tests (real sockets, real Redis)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings

from messages.sending import sessions_close
from messages.sink import SinkServer, SinkState


def wait_for(
    predicate: Callable[[], object], timeout: float = 20.0, step: float = 0.05
):
    """Poll until ``predicate()`` is truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def clean_health() -> Iterator[None]:
    """Route health lives in Redis (our test db); start every test healthy."""

    def wipe() -> None:
        if settings.REDIS_URL:
            client = redis.Redis.from_url(settings.REDIS_URL)
            keys = list(client.scan_iter("pmc:route:*"))
            if keys:
                client.delete(*keys)

    wipe()
    sessions_close()
    yield
    sessions_close()
    wipe()


@pytest.fixture
def sink(clean_health) -> Iterator[SinkServer]:
    """An aiosmtpd receiver on an ephemeral loopback port, keeping messages."""
    server = SinkServer(SinkState(keep_in_memory=True)).start()
    yield server
    sessions_close()  # QUIT our pooled connections while the sink still answers
    server.stop()


@pytest.fixture
def pool_to(settings) -> Callable[..., str]:
    """Point ``SENDER_POOL`` at the given sink ports (tls=none on loopback)."""

    def configure(*ports: int) -> str:
        settings.SENDER_POOL = ",".join(
            f"smtp://127.0.0.1:{port}?tls=none" for port in ports
        )
        return settings.SENDER_POOL

    return configure
