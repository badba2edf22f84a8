"""The official Postmark Node.js client (npm ``postmark`` 5.1.0), unmodified,
managing message streams and a new stream's suppressions on our live server."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import MessageStream

from .conftest import NodeClientError


def test_node_client_manages_a_stream_through_its_whole_life(node_client, live_tenant):
    client = node_client(live_tenant.server_token)

    listed = client.call("getMessageStreams")
    assert listed["TotalCount"] == 3
    assert {s["ID"] for s in listed["MessageStreams"]} == {
        "outbound",
        "inbound",
        "broadcast",
    }

    created = client.call(
        "createMessageStream",
        {
            "ID": "newsletter",
            "Name": "Newsletter",
            "MessageStreamType": "Broadcasts",
            "Description": "Monthly news",
            "SubscriptionManagementConfiguration": {
                "UnsubscribeHandlingType": "Postmark"
            },
        },
    )
    assert created["ID"] == "newsletter"
    assert created["ServerID"] == live_tenant.server.id
    assert created["MessageStreamType"] == "Broadcasts"
    assert created["UpdatedAt"] is None and created["ArchivedAt"] is None

    fetched = client.call("getMessageStream", "newsletter")
    assert fetched == created

    edited = client.call(
        "editMessageStream",
        "newsletter",
        {
            "Name": "Weekly newsletter",
            "SubscriptionManagementConfiguration": {
                "UnsubscribeHandlingType": "Custom"
            },
        },
    )
    assert edited["Name"] == "Weekly newsletter"
    assert edited["Description"] == "Monthly news"
    assert edited["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "Custom"
    }
    assert edited["UpdatedAt"] is not None

    broadcasts = client.call("getMessageStreams", {"messageStreamType": "Broadcasts"})
    assert [s["ID"] for s in broadcasts["MessageStreams"]] == [
        "broadcast",
        "newsletter",
    ]

    archived = client.call("archiveMessageStream", "newsletter")
    assert archived["ID"] == "newsletter"
    assert archived["ServerID"] == live_tenant.server.id
    stream = MessageStream.objects.get(
        server=live_tenant.server, stream_id="newsletter"
    )
    purge = dt.datetime.fromisoformat(archived["ExpectedPurgeDate"])
    assert purge - stream.archived_at == dt.timedelta(days=45)
    visible = client.call("getMessageStreams")
    assert "newsletter" not in [s["ID"] for s in visible["MessageStreams"]]
    everything = client.call("getMessageStreams", {"includeArchivedStreams": True})
    assert "newsletter" in [s["ID"] for s in everything["MessageStreams"]]

    with pytest.raises(NodeClientError) as caught:
        client.call(
            "sendEmail",
            {
                "From": live_tenant.sender,
                "To": "reader@example.org",
                "Subject": "Hi",
                "TextBody": "Hi",
                "MessageStream": "newsletter",
            },
        )
    assert (caught.value.status_code, caught.value.code) == (422, 1235)

    restored = client.call("unarchiveMessageStream", "newsletter")
    assert restored["ID"] == "newsletter"
    assert restored["ArchivedAt"] is None
    assert restored["ExpectedPurgeDate"] is None


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"ID": "Bad ID", "Name": "x", "MessageStreamType": "Broadcasts"}, 1227),
        ({"ID": "dup", "Name": "x", "MessageStreamType": "Inbound"}, 1228),
        ({"ID": "outbound", "Name": "x", "MessageStreamType": "Transactional"}, 1230),
    ],
)
def test_node_client_sees_postmarks_stream_error_codes(
    node_client, live_tenant, options, code
):
    client = node_client(live_tenant.server_token)
    with pytest.raises(NodeClientError) as caught:
        client.call("createMessageStream", options)
    assert caught.value.status_code == 422
    assert caught.value.code == code


def test_node_client_cannot_archive_a_default_stream(node_client, live_tenant):
    client = node_client(live_tenant.server_token)
    with pytest.raises(NodeClientError) as caught:
        client.call("archiveMessageStream", "broadcast")
    assert (caught.value.status_code, caught.value.code) == (422, 1229)


def test_node_client_manages_suppressions_on_a_new_stream(node_client, live_tenant):
    client = node_client(live_tenant.server_token)
    client.call(
        "createMessageStream",
        {"ID": "receipts", "Name": "Receipts", "MessageStreamType": "Transactional"},
    )
    added = client.call(
        "createSuppressions",
        "receipts",
        {"Suppressions": [{"EmailAddress": "gone@example.org"}]},
    )
    assert added["Suppressions"] == [
        {"EmailAddress": "gone@example.org", "Status": "Suppressed", "Message": None}
    ]
    dump = client.call("getSuppressions", "receipts")
    assert [
        (s["EmailAddress"], s["SuppressionReason"], s["Origin"])
        for s in dump["Suppressions"]
    ] == [("gone@example.org", "ManualSuppression", "Customer")]
    # Per-stream lists: the default stream knows nothing of it.
    assert client.call("getSuppressions", "outbound")["Suppressions"] == []

    with pytest.raises(NodeClientError) as caught:
        client.call(
            "sendEmail",
            {
                "From": live_tenant.sender,
                "To": "gone@example.org",
                "Subject": "Receipt",
                "TextBody": "Thanks",
                "MessageStream": "receipts",
            },
        )
    assert caught.value.code == 406
    assert caught.value.name == "InactiveRecipientsError"

    removed = client.call(
        "deleteSuppressions",
        "receipts",
        {"Suppressions": [{"EmailAddress": "gone@example.org"}]},
    )
    assert removed["Suppressions"][0]["Status"] == "Deleted"
    assert client.call("getSuppressions", "receipts")["Suppressions"] == []


def test_node_client_cannot_reach_another_servers_stream(
    node_client, live_tenant, live_other_tenant
):
    node_client(live_other_tenant.server_token).call(
        "createMessageStream",
        {"ID": "private", "Name": "Private", "MessageStreamType": "Broadcasts"},
    )
    client = node_client(live_tenant.server_token)
    for method in ("getMessageStream", "archiveMessageStream"):
        with pytest.raises(NodeClientError) as caught:
            client.call(method, "private")
        assert caught.value.code == 1226
    with pytest.raises(NodeClientError):
        client.call("getSuppressions", "private")
