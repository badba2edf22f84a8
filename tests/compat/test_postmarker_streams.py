"""postmarker against our message streams API, over a live server.

The released postmarker (1.0, the newest on PyPI) has no message-streams
manager; its repository's unreleased ``MessageStreamsManager``
(``postmarker.models.message_streams``, used as ``client.message_streams``)
does. These tests drive postmarker 1.0's own, unmodified transport
(``PostmarkClient.call``: its headers, JSON encoding and ``ClientError`` on
non-2xx) with exactly the requests that manager sends, quirks included: nulls
for unset create fields, ``UnsubscribeHandlingType`` at the top level, no body
on archive, and ``PUT`` (not POST) for unarchive.
"""

from __future__ import annotations

import pytest
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from accounts.models import MessageStream
from bounces.models import Suppression


@pytest.fixture
def client(live_server, live_tenant):
    made = PostmarkClient(
        server_token=live_tenant.server_token, root_api_url=live_server.url
    )
    yield made
    made.session.close()


def create(client, **fields):
    """``client.message_streams.create(...)``'s request."""
    data = {
        "ID": "digest",
        "Name": "Digest",
        "MessageStreamType": "Broadcasts",
        "Description": None,
        "SubscriptionManagementConfiguration": None,
        "UnsubscribeHandlingType": None,
    }
    data.update(fields)
    return client.call("POST", "/message-streams", data=data)


def test_postmarker_creates_edits_archives_and_unarchives_a_stream(client, live_tenant):
    created = create(client, UnsubscribeHandlingType="Custom")
    assert created["ID"] == "digest"
    assert created["Description"] == ""
    assert created["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "Custom"
    }

    # client.message_streams.all(MessageStreamType=..., IncludeArchivedStreams=...)
    listed = client.call(
        "GET",
        "/message-streams",
        MessageStreamType="Broadcasts",
        IncludeArchivedStreams=None,
    )
    assert [s["ID"] for s in listed["MessageStreams"]] == ["broadcast", "digest"]

    # client.message_streams.edit(id, Name=..., UnsubscribeHandlingType=...)
    edited = client.call(
        "PATCH",
        "/message-streams/digest",
        data={"Name": "Daily digest", "UnsubscribeHandlingType": "Postmark"},
    )
    assert edited["Name"] == "Daily digest"
    assert edited["SubscriptionManagementConfiguration"] == {
        "UnsubscribeHandlingType": "Postmark"
    }

    # client.message_streams.archive(id): POST without a body.
    archived = client.call("POST", "/message-streams/digest/archive")
    assert set(archived) == {"ID", "ServerID", "ExpectedPurgeDate"}
    assert archived["ID"] == "digest"
    assert MessageStream.objects.get(
        server=live_tenant.server, stream_id="digest"
    ).archived_at
    with_archived = client.call(
        "GET", "/message-streams", MessageStreamType=None, IncludeArchivedStreams=True
    )
    assert "digest" in [s["ID"] for s in with_archived["MessageStreams"]]

    # client.message_streams.unarchive(id): PUT.
    restored = client.call("PUT", "/message-streams/digest/unarchive")
    assert restored["ArchivedAt"] is None
    assert client.call("GET", "/message-streams/digest")["ArchivedAt"] is None


def test_postmarker_raises_client_error_with_postmarks_codes(client):
    with pytest.raises(ClientError) as caught:
        create(client, ID="pm-digest")
    assert caught.value.error_code == 1233
    with pytest.raises(ClientError) as caught:
        create(client, MessageStreamType="Transasctional")  # postmarker's spelling
    assert caught.value.error_code == 1221
    with pytest.raises(ClientError) as caught:
        client.call("POST", "/message-streams/outbound/archive")
    assert caught.value.error_code == 1229


def test_postmarker_suppressions_on_a_new_stream(client, live_tenant):
    create(client)
    # client.message_streams.suppressions_create(stream_id, *emails)
    added = client.call(
        "POST",
        "/message-streams/digest/suppressions",
        data={"Suppressions": [{"EmailAddress": "a@example.org"}]},
    )
    assert added["Suppressions"][0]["Status"] == "Suppressed"
    # client.message_streams.suppressions_dump(stream_id, ...)
    dump = client.call(
        "GET",
        "/message-streams/digest/suppressions/dump",
        SuppressionReason=None,
        Origin="Customer",
        todate=None,
        fromdate=None,
        EmailAddress=None,
    )
    assert [s["EmailAddress"] for s in dump["Suppressions"]] == ["a@example.org"]
    row = Suppression.objects.get(server=live_tenant.server, message_stream="digest")
    assert (row.email, row.reason, row.origin) == (
        "a@example.org",
        "ManualSuppression",
        "Customer",
    )


def test_postmarker_cannot_see_another_servers_stream(client, live_other_tenant):
    MessageStream.objects.create(
        server=live_other_tenant.server,
        stream_id="hidden",
        name="Hidden",
        stream_type=MessageStream.Type.BROADCASTS,
        unsubscribe_handling="Postmark",
    )
    with pytest.raises(ClientError) as caught:
        client.call("GET", "/message-streams/hidden")
    assert caught.value.error_code == 1226
    with pytest.raises(ClientError) as caught:
        client.call("PATCH", "/message-streams/hidden", data={"Name": "Mine"})
    assert caught.value.error_code == 1226
