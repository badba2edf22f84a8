"""The official Postmark Node.js client (npm ``postmark``), unmodified, against
our live server: only the request host differs from talking to Postmark."""

from __future__ import annotations

import pytest

from messages.models import Message

from .conftest import NodeClientError


def test_node_client_sends_an_email_and_reads_it_back(node_client, live_tenant):
    client = node_client(live_tenant.server_token)
    sent = client.call(
        "sendEmail",
        {
            "From": live_tenant.sender,
            "To": "reader@example.org",
            "Subject": "From Node",
            "TextBody": "Hello from postmark.js",
        },
    )
    assert sent["ErrorCode"] == 0
    assert sent["To"] == "reader@example.org"
    message = Message.objects.get(message_id=sent["MessageID"])
    assert message.subject == "From Node"
    details = client.call("getOutboundMessageDetails", sent["MessageID"])
    assert details["Subject"] == "From Node"


def test_node_client_reports_postmark_error_codes(node_client, live_tenant):
    client = node_client(live_tenant.server_token)
    with pytest.raises(NodeClientError) as caught:
        client.call("sendEmail", {"From": live_tenant.sender, "Subject": "x"})
    assert caught.value.code == 300
    assert caught.value.status_code == 422


def test_node_client_with_a_wrong_token_is_refused(node_client, live_tenant):
    client = node_client("not-a-real-token")
    with pytest.raises(NodeClientError) as caught:
        client.call("getServer")
    assert caught.value.status_code == 401
