"""Unmodified postmarker's inbound API (``client.messages.inbound``) and inbound
rule triggers (``client.triggers.inboundrules``) against our live server."""

from __future__ import annotations

import pytest
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from inbound.models import InboundMessage, InboundRule
from inbound.services import inbound_receive
from tests.inbound.conftest import fixture_eml, inbound_address


@pytest.fixture
def make_client(live_server):
    made: list[PostmarkClient] = []

    def build(token: str) -> PostmarkClient:
        made.append(PostmarkClient(server_token=token, root_api_url=live_server.url))
        return made[-1]

    yield build
    for client in made:
        client.session.close()


def receive(tenant, *, mail_from: str = "ana@example.org") -> InboundMessage:
    address = inbound_address(tenant, "ticket-42")
    raw = fixture_eml(
        "reply_with_attachments.eml", inbound_hash=tenant.server.inbound_hash
    )
    (row,) = inbound_receive(mail_from=mail_from, rcpt_tos=[address], raw=raw).messages
    return row


def test_postmarker_lists_and_reads_inbound_messages(make_client, live_tenant):
    row = receive(live_tenant)
    client = make_client(live_tenant.server_token)
    (message,) = client.messages.inbound.all(count=10, mailboxhash="ticket-42")
    assert message.MessageID == str(row.message_id)
    assert str(message) == "Processed message from ana@example.org"
    details = message.get()
    assert details.Subject == "Re: Größe order"
    assert details.StrippedTextReply == "Yes, the Größe L fits. Thanks!"
    assert details["X-Spam-Score"] == "1.3"  # postmarker reads Headers by name
    assert [str(a) for a in details.Attachments] == ["logo.png", "invoice.pdf"]
    assert len(details.Attachments[1]) == 15  # ContentLength
    assert details.BlockedReason == ""
    assert client.messages.inbound.all(count=10, status="failed") == []


def test_postmarker_bypasses_a_blocked_message_and_retries_a_failed_one(
    make_client, live_tenant
):
    InboundRule.objects.create(server=live_tenant.server, rule="example.org")
    row = receive(live_tenant)
    assert row.status == InboundMessage.Status.BLOCKED
    client = make_client(live_tenant.server_token)
    (blocked,) = client.messages.inbound.all(count=10, status="blocked")
    assert "example.org" in blocked.get().BlockedReason
    answer = blocked.bypass()
    assert answer["ErrorCode"] == 0
    assert answer["Message"] == f"Successfully bypassed message: {row.message_id}"
    row.refresh_from_db()
    assert row.status == InboundMessage.Status.PROCESSED  # no InboundHookUrl

    InboundMessage.objects.filter(id=row.id).update(status=InboundMessage.Status.FAILED)
    live_tenant.server.inbound_hook_url = "http://127.0.0.1:9/hook"
    live_tenant.server.save()
    answer = client.messages.inbound.retry(str(row.message_id))
    assert answer["Message"].startswith("Successfully rescheduled failed message")
    row.refresh_from_db()
    assert row.status == InboundMessage.Status.QUEUED
    with pytest.raises(ClientError) as caught:
        client.messages.inbound.retry(str(row.message_id))
    assert caught.value.error_code == 703


def test_postmarker_manages_inbound_rules(make_client, live_tenant):
    client = make_client(live_tenant.server_token)
    rule = client.triggers.inboundrules.create("junk.example")
    assert rule.Rule == "junk.example"
    assert [r.Rule for r in client.triggers.inboundrules.all()] == ["junk.example"]
    assert rule.delete() == f"Rule {rule.ID} removed."
    assert client.triggers.inboundrules.all() == []
    with pytest.raises(ClientError) as caught:
        client.triggers.inboundrules.create("not a domain")
    assert caught.value.error_code == 813


def test_another_tenant_gets_701_from_postmarker(
    make_client, live_tenant, live_other_tenant
):
    row = receive(live_tenant)
    other = make_client(live_other_tenant.server_token)
    assert other.messages.inbound.all(count=10) == []
    with pytest.raises(ClientError) as caught:
        other.messages.inbound.get(str(row.message_id))
    assert caught.value.error_code == 701
