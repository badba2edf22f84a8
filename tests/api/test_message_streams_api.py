"""Server API: ``/message-streams`` — list, get, create, edit, archive, unarchive."""

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


# --- create -----------------------------------------------------------------------


def create(api, tenant, **body):
    payload = {"ID": "news", "Name": "News", "MessageStreamType": "Broadcasts"}
    payload.update(body)
    payload = {k: v for k, v in payload.items() if v is not ...}
    return api.send_json("POST", "/message-streams", payload, **tenant.server_headers)


def test_create_a_broadcast_stream(api, tenant):
    response = create(api, tenant, Description="Monthly news")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == STREAM_KEYS
    assert body["ID"] == "news"
    assert body["ServerID"] == tenant.server.id
    assert body["MessageStreamType"] == "Broadcasts"
    assert body["Description"] == "Monthly news"
    assert body["UpdatedAt"] is None and body["ArchivedAt"] is None
    assert body["ExpectedPurgeDate"] is None
    assert body["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "Postmark"
    }
    got = api.send_json("GET", "/message-streams/news", **tenant.server_headers)
    assert got.json() == body


def test_a_transactional_stream_defaults_to_no_unsubscribe_handling(api, tenant):
    body = create(api, tenant, ID="receipts", MessageStreamType="transactional").json()
    assert body["MessageStreamType"] == "Transactional"
    assert body["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "None"
    }


def test_custom_unsubscribe_handling_on_a_broadcast_stream(api, tenant):
    body = create(
        api,
        tenant,
        SubscriptionManagementConfiguration={"UnsubscribeHandlingType": "Custom"},
    ).json()
    assert body["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "Custom"
    }


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"ID": ...}, 1222),
        ({"ID": ""}, 1222),
        ({"ID": 7}, 1222),
        ({"ID": "9lives"}, 1227),
        ({"ID": "News"}, 1227),
        ({"ID": "has space"}, 1227),
        ({"ID": "x" * 31}, 1227),
        ({"ID": "pm-news"}, 1233),
        ({"ID": "all"}, 1237),
        ({"ID": "outbound"}, 1230),
        ({"ID": "broadcast"}, 1230),
        ({"Name": ...}, 1223),
        ({"Name": "   "}, 1223),
        ({"Name": "n" * 101}, 1224),
        ({"Description": "d" * 1001}, 1231),
        ({"Description": "Hello <b>there</b>"}, 1234),
        ({"MessageStreamType": ...}, 1221),
        ({"MessageStreamType": "Marketing"}, 1221),
        ({"MessageStreamType": "Inbound"}, 1228),
        (
            {"SubscriptionManagementConfiguration": {"UnsubscribeHandlingType": "X"}},
            1240,
        ),
        (
            {
                "SubscriptionManagementConfiguration": {
                    "UnsubscribeHandlingType": "None"
                }
            },
            1239,
        ),
        (
            {
                "MessageStreamType": "Transactional",
                "SubscriptionManagementConfiguration": {
                    "UnsubscribeHandlingType": "Postmark"
                },
            },
            1239,
        ),
    ],
)
def test_create_rejects_bad_input_with_postmarks_code(api, tenant, body, code):
    response = create(api, tenant, **body)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == code
    assert response["X-PM-ApiErrorCode"] == str(code)
    assert response.json()["Message"]
    assert not MessageStream.objects.filter(
        server=tenant.server, stream_id="news"
    ).exists()


def test_an_id_used_by_an_archived_stream_is_taken(api, tenant):
    archived_stream(tenant.server, "news")
    assert create(api, tenant).json()["ErrorCode"] == 1230


def test_a_server_holds_at_most_ten_streams_archived_included(api, tenant):
    archived_stream(tenant.server, "old-1")
    for i in range(6):
        assert create(api, tenant, ID=f"s{i}").status_code == 200
    response = create(api, tenant, ID="eleventh")
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1225
    assert MessageStream.objects.filter(server=tenant.server).count() == 10


def test_the_same_id_on_another_server_is_fine(api, tenant, other_tenant):
    assert create(api, other_tenant).status_code == 200
    assert create(api, tenant).status_code == 200


# --- edit -------------------------------------------------------------------------


def test_patch_changes_name_description_and_handling(api, tenant):
    create(api, tenant)
    response = api.send_json(
        "PATCH",
        "/message-streams/news",
        {
            "Name": "Newsletter",
            "Description": "Weekly",
            "SubscriptionManagementConfiguration": {
                "UnsubscribeHandlingType": "Custom"
            },
        },
        **tenant.server_headers,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["Name"] == "Newsletter"
    assert body["Description"] == "Weekly"
    assert body["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "Custom"
    }
    assert body["UpdatedAt"] is not None
    assert body["MessageStreamType"] == "Broadcasts" and body["ID"] == "news"
    stream = MessageStream.objects.get(server=tenant.server, stream_id="news")
    assert stream.unsubscribe_handling == "Custom"


def test_patch_leaves_absent_and_null_fields_alone(api, tenant):
    create(api, tenant, Description="Keep me")
    body = api.send_json(
        "PATCH",
        "/message-streams/news",
        {"Name": "Renamed", "Description": None},
        **tenant.server_headers,
    ).json()
    assert body["Name"] == "Renamed"
    assert body["Description"] == "Keep me"
    assert body["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "Postmark"
    }


@pytest.mark.parametrize(
    ("stream_id", "body", "code"),
    [
        ("outbound", {"Name": ""}, 1223),
        ("outbound", {"Name": "n" * 101}, 1224),
        ("outbound", {"Description": "<script>x</script>"}, 1234),
        (
            "outbound",
            {
                "SubscriptionManagementConfiguration": {
                    "UnsubscribeHandlingType": "Postmark"
                }
            },
            1239,
        ),
        (
            "broadcast",
            {
                "SubscriptionManagementConfiguration": {
                    "UnsubscribeHandlingType": "None"
                }
            },
            1239,
        ),
        (
            "broadcast",
            {
                "SubscriptionManagementConfiguration": {
                    "UnsubscribeHandlingType": "Maybe"
                }
            },
            1240,
        ),
        ("nope", {"Name": "x"}, 1226),
    ],
)
def test_patch_rejects_bad_input(api, tenant, stream_id, body, code):
    response = api.send_json(
        "PATCH", f"/message-streams/{stream_id}", body, **tenant.server_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == code


# --- archive / unarchive -------------------------------------------------------------


def test_archive_then_unarchive(api, tenant):
    create(api, tenant)
    response = api.send_json(
        "POST", "/message-streams/news/archive", {}, **tenant.server_headers
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ID", "ServerID", "ExpectedPurgeDate"}
    assert body["ID"] == "news" and body["ServerID"] == tenant.server.id
    stream = MessageStream.objects.get(server=tenant.server, stream_id="news")
    purge = dt.datetime.fromisoformat(body["ExpectedPurgeDate"])
    assert purge - stream.archived_at == dt.timedelta(days=45)
    listed = api.send_json("GET", "/message-streams", **tenant.server_headers).json()
    assert "news" not in [s["ID"] for s in listed["MessageStreams"]]

    response = api.send_json(
        "POST", "/message-streams/news/unarchive", **tenant.server_headers
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == STREAM_KEYS
    assert body["ArchivedAt"] is None and body["ExpectedPurgeDate"] is None
    listed = api.send_json("GET", "/message-streams", **tenant.server_headers).json()
    assert "news" in [s["ID"] for s in listed["MessageStreams"]]


def test_archiving_twice_keeps_the_first_purge_date(api, tenant):
    create(api, tenant)
    first = api.send_json(
        "POST", "/message-streams/news/archive", **tenant.server_headers
    ).json()
    second = api.send_json(
        "POST", "/message-streams/news/archive", **tenant.server_headers
    ).json()
    assert first == second


@pytest.mark.parametrize("stream_id", ["outbound", "inbound", "broadcast"])
def test_default_streams_cannot_be_archived(api, tenant, stream_id):
    response = api.send_json(
        "POST", f"/message-streams/{stream_id}/archive", {}, **tenant.server_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1229
    assert (
        MessageStream.objects.get(server=tenant.server, stream_id=stream_id).archived_at
        is None
    )


def test_a_stream_past_its_purge_date_cannot_be_unarchived(api, tenant):
    stream = archived_stream(tenant.server)
    MessageStream.objects.filter(pk=stream.pk).update(
        archived_at=timezone.now() - dt.timedelta(days=46)
    )
    response = api.send_json(
        "POST", "/message-streams/old-news/unarchive", **tenant.server_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1232


def test_sending_to_an_archived_stream_is_refused_as_an_unknown_stream(api, tenant):
    create(api, tenant)
    api.send_json("POST", "/message-streams/news/archive", **tenant.server_headers)
    response = api.send_json(
        "POST",
        "/email",
        {
            "From": tenant.sender,
            "To": "reader@example.org",
            "Subject": "Hi",
            "TextBody": "Hi",
            "MessageStream": "news",
        },
        **tenant.server_headers,
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1235
    api.send_json("POST", "/message-streams/news/unarchive", **tenant.server_headers)
    response = api.send_json(
        "POST",
        "/email",
        {
            "From": tenant.sender,
            "To": "reader@example.org",
            "Subject": "Hi",
            "TextBody": "Hi",
            "MessageStream": "news",
        },
        **tenant.server_headers,
    )
    assert response.status_code == 200, response.json()


def test_other_tenant_cannot_edit_or_archive(api, tenant, other_tenant):
    create(api, other_tenant)
    for method, path, body in [
        ("PATCH", "/message-streams/news", {"Name": "Mine"}),
        ("POST", "/message-streams/news/archive", {}),
        ("POST", "/message-streams/news/unarchive", {}),
    ]:
        response = api.send_json(method, path, body, **tenant.server_headers)
        assert response.status_code == 422
        assert response.json()["ErrorCode"] == 1226
    stream = MessageStream.objects.get(server=other_tenant.server, stream_id="news")
    assert stream.name == "News" and stream.archived_at is None


def test_a_wrong_method_on_archive_is_an_empty_405(api, tenant):
    response = api.send_json(
        "GET", "/message-streams/broadcast/archive", **tenant.server_headers
    )
    assert response.status_code == 405
    assert response.content == b""
