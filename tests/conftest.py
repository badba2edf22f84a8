from __future__ import annotations

import json

import pytest
from django.test import Client

from .factories import Tenant, make_tenant

# Delivery fixtures (sink on an ephemeral port, SENDER_POOL, clean route health).
from .messages.delivery_helpers import clean_health, pool_to, sink  # noqa: F401, E402


@pytest.fixture
def tenant(db) -> Tenant:
    return make_tenant("acme")


@pytest.fixture
def other_tenant(db) -> Tenant:
    """A second tenant who must never see the first one's data."""
    return make_tenant("globex")


class ApiClient(Client):
    """Django's test client speaking JSON like Postmark's clients."""

    def send_json(self, method: str, path: str, body=None, **headers):
        data = json.dumps(body) if body is not None else ""
        return self.generic(
            method,
            path,
            data,
            content_type="application/json",
            HTTP_ACCEPT="application/json",
            **headers,
        )


@pytest.fixture
def api() -> ApiClient:
    return ApiClient()


@pytest.fixture
def dns_zone(settings):
    """A real DNS server on an ephemeral UDP port that the app resolves against."""
    from .dnsserver import Zone

    zone = Zone()
    settings.DNS_RESOLVERS = [zone.start()]
    settings.DNS_TIMEOUT_SECONDS = 2.0
    try:
        yield zone
    finally:
        zone.stop()


@pytest.fixture(autouse=True)
def _no_delivery_task_waiting_from_another_test():
    """messages.dispatch publishes no delivery task while its shared-cache flag
    says one is waiting (for up to WAITING_TTL_SECONDS). A test that published
    with no worker running leaves that flag behind; it must not hold back the
    next test's dispatch."""
    from django.conf import settings

    if settings.REDIS_URL:
        from django.core.cache import cache

        from messages.dispatch import WAITING_KEY

        cache.delete(WAITING_KEY)
    yield
