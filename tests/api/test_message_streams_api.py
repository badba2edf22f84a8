"""Server API: ``GET /message-streams`` and ``GET /message-streams/{id}``."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import MessageStream

pytestmark = pytest.mark.django_db

STREAM_KEYS = {
    "ID",
    "ServerID",
    "Name",
    "Description",
    "MessageStreamType",
    "CreatedAt",
    "UpdatedAt",
    "ArchivedAt",
    "ExpectedPurgeDate",
    "SubscriptionManagementConfiguration",
}


def archived_stream(server, stream_id="old-news"):
    return MessageStream.objects.create(
        server=server,
        stream_id=stream_id,
        name="Old news",
        stream_type=MessageStream.Type.BROADCASTS,
        unsubscribe_handling="Postmark",
        archived_at=timezone.now() - dt.timedelta(days=1),
    )


def test_list_shows_the_default_streams(api, tenant):
    response = api.send_json("GET", "/message-streams", **tenant.server_headers)
    assert response.status_code == 200
    body = response.json()
    assert body["TotalCount"] == 3
    by_id = {s["ID"]: s for s in body["MessageStreams"]}
    assert set(by_id) == {"outbound", "inbound", "broadcast"}
    outbound = by_id["outbound"]
    assert set(outbound) == STREAM_KEYS
    assert outbound["ServerID"] == tenant.server.id
    assert outbound["MessageStreamType"] == "Transactional"
    assert outbound["ArchivedAt"] is None and outbound["UpdatedAt"] is None
    assert outbound["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "None"
    }
    assert by_id["broadcast"]["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "Postmark"
    }
    assert dt.datetime.fromisoformat(outbound["CreatedAt"]).tzinfo is not None


@pytest.mark.parametrize(
    ("stream_type", "ids"),
    [
        ("Transactional", ["outbound"]),
        ("broadcasts", ["broadcast"]),
        ("INBOUND", ["inbound"]),
        ("All", ["outbound", "inbound", "broadcast"]),
    ],
)
def test_list_filters_by_type_ignoring_case(api, tenant, stream_type, ids):
    body = api.send_json(
        "GET",
        f"/message-streams?messageStreamType={stream_type}",
        **tenant.server_headers,
    ).json()
    assert [s["ID"] for s in body["MessageStreams"]] == ids
    assert body["TotalCount"] == len(ids)


def test_list_rejects_an_unknown_type(api, tenant):
    response = api.send_json(
        "GET", "/message-streams?MessageStreamType=Marketing", **tenant.server_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1221


def test_archived_streams_are_listed_only_when_asked(api, tenant):
    stream = archived_stream(tenant.server)
    default = api.send_json("GET", "/message-streams", **tenant.server_headers).json()
    assert "old-news" not in [s["ID"] for s in default["MessageStreams"]]
    body = api.send_json(
        "GET",
        "/message-streams?IncludeArchivedStreams=true&MessageStreamType=Broadcasts",
        **tenant.server_headers,
    ).json()
    assert [s["ID"] for s in body["MessageStreams"]] == ["broadcast", "old-news"]
    old = body["MessageStreams"][1]
    purge = dt.datetime.fromisoformat(old["ExpectedPurgeDate"])
    assert purge - stream.archived_at == dt.timedelta(days=45)


def test_list_query_count_is_fixed(api, tenant, django_assert_num_queries):
    for i in range(4):
        archived_stream(tenant.server, f"archived-{i}")
    # token lookup, streams
    with django_assert_num_queries(2):
        response = api.send_json(
            "GET", "/message-streams?includearchivedstreams=1", **tenant.server_headers
        )
    assert response.json()["TotalCount"] == 7


def test_get_one_stream(api, tenant):
    response = api.send_json(
        "GET", "/message-streams/Broadcast/", **tenant.server_headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["ID"] == "broadcast"
    assert body["MessageStreamType"] == "Broadcasts"


def test_unknown_stream_is_1226(api, tenant):
    response = api.send_json("GET", "/message-streams/nope", **tenant.server_headers)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1226


def test_other_tenant_gets_not_found(api, tenant, other_tenant):
    archived_stream(other_tenant.server, "globex-only")
    response = api.send_json(
        "GET", "/message-streams/globex-only", **tenant.server_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1226
    body = api.send_json(
        "GET",
        "/message-streams?IncludeArchivedStreams=true",
        **tenant.server_headers,
    ).json()
    assert {s["ServerID"] for s in body["MessageStreams"]} == {tenant.server.id}


def test_an_account_token_cannot_list_streams(api, tenant):
    response = api.send_json("GET", "/message-streams", **tenant.account_headers)
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10
