"""Token guessing: wrong X-Postmark-Server-Token / X-Postmark-Account-Token
values from one client IP are rate limited (429 with Postmark's error JSON),
over real HTTP against the live server, counted in Redis."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.core.cache import cache

from api.auth import token_failure_key

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 5


@pytest.fixture
def guarded(settings, live_server):
    settings.API_TOKEN_FAILURE_LIMIT = LIMIT
    settings.API_TOKEN_FAILURE_WINDOW_SECONDS = 60
    key = token_failure_key("127.0.0.1")
    cache.delete(key)
    yield live_server.url
    cache.delete(key)


def call(base: str, path: str, headers: dict[str, str], body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method="POST" if body is not None else "GET",
        headers={"Accept": "application/json", "Content-Type": "application/json"}
        | headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def wrong(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def test_wrong_server_tokens_are_401_then_429_with_postmark_json(guarded, tenant):
    for n in range(LIMIT):
        status, _, body = call(
            guarded, "/server", {"X-Postmark-Server-Token": wrong(n)}
        )
        assert (status, body["ErrorCode"]) == (401, 10)
    status, headers, body = call(
        guarded, "/server", {"X-Postmark-Server-Token": wrong(99)}
    )
    assert status == 429
    assert body["ErrorCode"] == 429
    assert "invalid API token" in body["Message"]
    assert int(headers["Retry-After"]) == 60
    # The send endpoint is blocked the same way, and nothing was stored.
    status, _, body = call(
        guarded,
        "/email",
        {"X-Postmark-Server-Token": wrong(100)},
        {"From": tenant.sender, "To": "a@example.org", "TextBody": "x"},
    )
    assert (status, body["ErrorCode"]) == (429, 429)


def test_account_token_failures_count_towards_the_same_limit(guarded, tenant):
    for n in range(LIMIT - 1):
        status, _, body = call(
            guarded, "/servers", {"X-Postmark-Account-Token": wrong(n)}
        )
        assert (status, body["ErrorCode"]) == (401, 10)
    call(guarded, "/server", {"X-Postmark-Server-Token": wrong(7)})
    status, _, body = call(guarded, "/servers", {"X-Postmark-Account-Token": wrong(8)})
    assert (status, body["ErrorCode"]) == (429, 429)


def test_valid_tokens_and_the_test_token_do_not_count(guarded, tenant):
    for _ in range(LIMIT + 2):
        status, _, _ = call(
            guarded, "/server", {"X-Postmark-Server-Token": tenant.server_token}
        )
        assert status == 200
        status, _, body = call(
            guarded,
            "/email",
            {"X-Postmark-Server-Token": "POSTMARK_API_TEST"},
            {"From": tenant.sender, "To": "a@example.org", "TextBody": "x"},
        )
        assert (status, body["ErrorCode"]) == (200, 0)
    assert cache.get(token_failure_key("127.0.0.1")) is None


def test_the_block_ends_with_its_window(guarded, settings, tenant):
    for n in range(LIMIT):
        call(guarded, "/server", {"X-Postmark-Server-Token": wrong(n)})
    status, _, _ = call(
        guarded, "/server", {"X-Postmark-Server-Token": tenant.server_token}
    )
    assert status == 429  # blocked clients cannot test a guess either
    cache.delete(token_failure_key("127.0.0.1"))  # what the window's end does
    status, _, _ = call(
        guarded, "/server", {"X-Postmark-Server-Token": tenant.server_token}
    )
    assert status == 200


def test_a_limit_of_zero_turns_the_limit_off(guarded, settings):
    settings.API_TOKEN_FAILURE_LIMIT = 0
    for n in range(LIMIT + 3):
        status, _, _ = call(guarded, "/server", {"X-Postmark-Server-Token": wrong(n)})
        assert status == 401


def test_the_lookup_is_by_indexed_prefix_and_compared_in_constant_time(
    tenant, django_assert_num_queries
):
    """One indexed query on the prefix; the hash comparison is hmac.compare_digest
    (a token sharing the prefix but not the rest is refused)."""
    import inspect

    from accounts import selectors
    from accounts.models import ServerToken

    source = inspect.getsource(selectors.server_for_token)
    assert "hmac.compare_digest" in source
    assert "prefix=" in source
    assert (
        any(
            "prefix" in (index.fields or []) or "prefix" in str(index)
            for index in ServerToken._meta.indexes
        )
        or ServerToken._meta.get_field("prefix").db_index
    )
    same_prefix = tenant.server_token[:12] + "f" * (len(tenant.server_token) - 12)
    with django_assert_num_queries(1):
        assert selectors.server_for_token(token=same_prefix) is None


@pytest.mark.parametrize(
    "header", ["HTTP_X_POSTMARK_SERVER_TOKEN", "HTTP_X_POSTMARK_ACCOUNT_TOKEN"]
)
def test_a_token_with_a_nul_byte_is_401_not_a_database_error(api, tenant, header):
    path = "/server" if "SERVER" in header else "/servers"
    response = api.get(path, HTTP_ACCEPT="application/json", **{header: "ab\x00cd"})
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10


def test_an_unreachable_counter_store_fails_open(api, tenant, settings):
    """Redis down: wrong tokens are still 401, right ones still 200 (the limit
    protects against abuse and must not stop the API)."""
    settings.API_TOKEN_FAILURE_LIMIT = 1
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # discard port: refused
        }
    }
    for _ in range(3):
        wrong_response = api.get(
            "/server",
            HTTP_ACCEPT="application/json",
            HTTP_X_POSTMARK_SERVER_TOKEN=wrong(1),
        )
        assert wrong_response.status_code == 401
    right = api.get("/server", HTTP_ACCEPT="application/json", **tenant.server_headers)
    assert right.status_code == 200
