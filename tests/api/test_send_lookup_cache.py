"""The send path's per-process lookup cache: fewer queries, no stale answers
after a change made through the ORM in this process."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import MessageStream, ServerToken
from postmark_clone.lookup_cache import clear_all
from tests.factories import make_domain

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def cache_on(settings):
    settings.LOOKUP_CACHE_SECONDS = 60
    clear_all()
    yield
    clear_all()


def send(api, tenant, **overrides):
    body = {
        "From": tenant.sender,
        "To": "alice@example.org",
        "Subject": "Hi",
        "TextBody": "Hi",
    }
    body.update(overrides)
    return api.send_json("POST", "/email", body, **tenant.server_headers)


def test_a_repeated_send_only_writes(api, tenant):
    assert send(api, tenant).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert send(api, tenant).status_code == 200
    # Token, stream and domain come from the cache. What remains is one round
    # trip carrying the stream's suppression lookup (never cached: a new
    # suppression applies at once), the message and recipient inserts and the
    # Sent counter upsert (plus savepoint bookkeeping inside the test
    # transaction).
    trips = [q["sql"] for q in queries.captured_queries]
    trips = [sql for sql in trips if sql.split()[0] not in ("SAVEPOINT", "RELEASE")]
    # Once per KEY_BLOCK rows the process's key pool is refilled (an amortised
    # extra trip); whether this send hits it depends on how many rows earlier
    # tests inserted, so it is not counted.
    trips = [sql for sql in trips if "generate_series" not in sql]
    assert len(trips) == 1
    assert trips[0].startswith("SELECT email FROM bounces_suppression")
    assert trips[0].count("INSERT INTO") == 3
    assert "bounces_dailystat" in trips[0]


def test_a_token_revoked_in_this_process_stops_working_at_once(api, tenant):
    assert send(api, tenant).status_code == 200
    token = ServerToken.objects.get(server=tenant.server)
    token.revoked_at = timezone.now()
    token.save()
    response = send(api, tenant)
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10


def test_a_new_domain_can_send_at_once(api, tenant):
    other = "news.example.net"
    assert send(api, tenant, From=f"a@{other}").json()["ErrorCode"] == 400
    make_domain(account=tenant.account, name=other)
    assert send(api, tenant, From=f"a@{other}").status_code == 200


def test_an_archived_stream_refuses_at_once(api, tenant):
    assert send(api, tenant, MessageStream="broadcast").status_code == 200
    stream = MessageStream.objects.get(server=tenant.server, stream_id="broadcast")
    stream.archived_at = timezone.now()
    stream.save()
    response = send(api, tenant, MessageStream="broadcast")
    assert response.json()["ErrorCode"] == 1235


def test_other_tenant_gets_its_own_cached_server(api, tenant, other_tenant):
    assert send(api, tenant).status_code == 200
    response = send(api, other_tenant)
    assert response.status_code == 200
    from messages.models import Message

    assert Message.objects.filter(server=other_tenant.server).count() == 1
    assert Message.objects.filter(server=tenant.server).count() == 1
