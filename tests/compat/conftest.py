"""Fixtures for driving real client libraries against a live test server."""

from __future__ import annotations

import gc
import time

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
