"""The official Node.js client (npm ``postmark``), unmodified, against our live
server: inbound messages and inbound rule triggers."""

from __future__ import annotations

import pytest

from inbound.models import InboundMessage, InboundRule
from inbound.services import inbound_receive
from tests.inbound.conftest import fixture_eml, inbound_address

from .conftest import NodeClientError


def receive(tenant) -> InboundMessage:
    address = inbound_address(tenant, "ticket-42")
    raw = fixture_eml(
        "reply_with_attachments.eml", inbound_hash=tenant.server.inbound_hash
    )
    (row,) = inbound_receive(
        mail_from="ana@example.org", rcpt_tos=[address], raw=raw
    ).messages
    return row


def test_node_client_lists_and_reads_inbound_messages(node_client, live_tenant):
    row = receive(live_tenant)
    client = node_client(live_tenant.server_token)
    listed = client.call(
        "getInboundMessages", {"count": 10, "offset": 0, "mailboxHash": "ticket-42"}
    )
    assert listed["TotalCount"] == 1
    (item,) = listed["InboundMessages"]
    assert item["MessageID"] == str(row.message_id)
    assert item["FromFull"]["Email"] == "ana@example.org"
    details = client.call("getInboundMessageDetails", str(row.message_id))
    assert details["StrippedTextReply"] == "Yes, the Größe L fits. Thanks!"
    assert details["MailboxHash"] == "ticket-42"
    assert details["Attachments"][0]["ContentID"] == "logo@example.org"


def test_node_client_bypasses_and_retries(node_client, live_tenant):
    InboundRule.objects.create(server=live_tenant.server, rule="ana@example.org")
    row = receive(live_tenant)
    client = node_client(live_tenant.server_token)
    answer = client.call("bypassBlockedInboundMessage", str(row.message_id))
    assert answer["ErrorCode"] == 0
    InboundMessage.objects.filter(id=row.id).update(status=InboundMessage.Status.FAILED)
    answer = client.call("retryInboundHookForMessage", str(row.message_id))
    assert answer["Message"] == (
        f"Successfully rescheduled failed message: {row.message_id}"
    )
    with pytest.raises(NodeClientError) as caught:
        client.call("bypassBlockedInboundMessage", str(row.message_id))
    assert caught.value.code == 702 and caught.value.status_code == 422


def test_node_client_manages_inbound_rule_triggers(node_client, live_tenant):
    client = node_client(live_tenant.server_token)
    created = client.call("createInboundRuleTrigger", {"Rule": "junk.example"})
    assert created["Rule"] == "junk.example"
    listed = client.call("getInboundRuleTriggers", {"count": 10, "offset": 0})
    assert listed == {"TotalCount": 1, "InboundRules": [created]}
    removed = client.call("deleteInboundRuleTrigger", created["ID"])
    assert removed == {"ErrorCode": 0, "Message": f"Rule {created['ID']} removed."}


def test_node_client_other_tenant_gets_701(node_client, live_tenant, live_other_tenant):
    row = receive(live_tenant)
    client = node_client(live_other_tenant.server_token)
    with pytest.raises(NodeClientError) as caught:
        client.call("getInboundMessageDetails", str(row.message_id))
    assert caught.value.code == 701 and caught.value.status_code == 422
