"""SENDER_POOL parsing, weighted choice, and route health shared by processes."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.core.exceptions import ImproperlyConfigured

from messages.pool import (
    DatabaseHealthStore,
    RedisHealthStore,
    RouteTracker,
    cooldown_seconds,
    pool_parse,
)


def test_it_parses_smtp_and_mx_routes_with_options():
    routes = pool_parse(
        "smtp://user:p%40ss@relay1.example:587?tls=required&weight=2,"
        " smtp://127.0.0.1:2625,"
        "mx://?helo=mail.example.com&source=203.0.113.5"
    )
    relay, sink, direct = routes
    assert (relay.kind, relay.host, relay.port) == ("smtp", "relay1.example", 587)
    assert (relay.username, relay.password) == ("user", "p@ss")
    assert (relay.tls, relay.weight) == ("required", 2)
    assert relay.name == "smtp://relay1.example:587"
    assert "p@ss" not in repr(relay)
    assert (sink.port, sink.tls, sink.weight) == (2625, "opportunistic", 1)
    assert (direct.kind, direct.helo, direct.source) == (
        "mx",
        "mail.example.com",
        "203.0.113.5",
    )
    assert direct.port == 25


def test_two_accounts_on_one_relay_are_two_routes():
    routes = pool_parse("smtp://a:x@relay:25,smtp://b:y@relay:25")
    assert [r.name for r in routes] == ["smtp://relay:25", "smtp://relay:25#2"]


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "http://relay",
        "smtp://relay?tls=maybe",
        "smtp://relay?weight=0",
        "smtp://?x=1",
    ],
)
def test_it_refuses_a_bad_pool(spec):
    with pytest.raises(ImproperlyConfigured):
        pool_parse(spec)


class MemoryStore:
    """A stand-in store for the pure choice logic (health stores are tested
    against Redis and PostgreSQL below)."""

    def __init__(self):
        self.inner = {}

    def states(self, names):
        from messages.pool import RouteState

        return {n: self.inner.get(n, RouteState(n)) for n in names}

    def record_failure(self, name, error):
        from messages.pool import RouteState

        state = RouteState(name, failures=1, down_until=time.time() + 60)
        self.inner[name] = state
        return state

    def record_success(self, name):
        pass


def test_routes_are_chosen_by_weight():
    routes = pool_parse("smtp://a:25?weight=3,smtp://b:25?weight=1")
    tracker = RouteTracker(routes, store=MemoryStore())
    picks = Counter(tracker.choose().host for _ in range(4000))
    assert 0.70 < picks["a"] / 4000 < 0.80


def test_a_failed_route_is_skipped_until_its_cooldown_ends():
    routes = pool_parse("smtp://a:25?weight=100,smtp://b:25")
    tracker = RouteTracker(routes, store=MemoryStore())
    tracker.failure(routes[0], "connection refused")
    assert {tracker.choose().host for _ in range(50)} == {"b"}
    tracker.failure(routes[1], "timed out")
    assert tracker.choose() is None
    assert tracker.next_up_at() > time.time()


def test_the_cooldown_grows_on_repeated_failure(settings):
    settings.DELIVERY_ROUTE_COOLDOWN_SECONDS = 10
    settings.DELIVERY_ROUTE_COOLDOWN_MAX_SECONDS = 600
    assert [cooldown_seconds(n) for n in (1, 2, 3, 4, 10)] == [10, 20, 40, 80, 600]


def _exercise(store):
    name = f"smtp://test-{time.time_ns()}:25"
    assert store.states([name])[name].is_up()
    first = store.record_failure(name, "421 4.3.2 shutting down")
    second = store.record_failure(name, "connection refused")
    assert second.failures == 2
    assert second.down_until - time.time() > first.down_until - time.time() + 5
    seen = store.states([name])[name]
    assert not seen.is_up()
    assert seen.last_error == "connection refused"
    store.record_success(name)
    healed = store.states([name])[name]
    assert healed.is_up() and healed.failures == 0 and healed.last_success_at


def test_health_is_shared_through_redis(settings, clean_health):
    _exercise(RedisHealthStore(settings.REDIS_URL))


@pytest.mark.django_db
def test_health_is_shared_through_the_database_without_redis():
    _exercise(DatabaseHealthStore())
