"""POSTing inbound messages to the InboundHookUrl: a real HTTP receiver on an
ephemeral port, the service called directly (the worker test drives Celery)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from bounces.models import Bounce
from inbound.models import InboundMessage
from inbound.services import (
    inbound_deliver_attempt,
    inbound_deliveries_enqueue_due,
    inbound_receive,
)

from .conftest import fixture_eml, inbound_address, set_hook, simple_eml

pytestmark = pytest.mark.django_db
Status = InboundMessage.Status


def receive(tenant, raw: bytes | None = None, mailbox_hash: str = "") -> InboundMessage:
    address = inbound_address(tenant, mailbox_hash)
    raw = raw or simple_eml(to=address)
    (row,) = inbound_receive(
        mail_from="ana@example.org", rcpt_tos=[address], raw=raw
    ).messages
    return row


def test_a_200_marks_it_processed_and_the_body_is_postmarks_json(
    tenant, receiver, hook_settings
):
    set_hook(tenant, receiver.url)
    raw = fixture_eml(
        "reply_with_attachments.eml", inbound_hash=tenant.server.inbound_hash
    )
    row = receive(tenant, raw, "ticket-42")
    assert inbound_deliver_attempt(inbound_id=row.id) == Status.PROCESSED
    row.refresh_from_db()
    assert row.status == Status.PROCESSED and row.attempts == 1
    assert row.last_status_code == 200 and row.processed_at is not None
    (request,) = receiver.requests
    assert request.headers["Content-Type"] == "application/json"
    body = request.json
    assert "RecordType" not in body
    assert body["MessageID"] == str(row.message_id)
    assert body["MessageStream"] == "inbound"
    assert body["MailboxHash"] == "ticket-42"
    assert body["OriginalRecipient"] == inbound_address(tenant, "ticket-42")
    assert body["Subject"] == "Re: Größe order"
    assert body["StrippedTextReply"] == "Yes, the Größe L fits. Thanks!"
    pdf = body["Attachments"][1]
    assert base64.b64decode(pdf["Content"]).startswith(b"%PDF-1.4")
    assert "RawEmail" not in body


def test_raw_email_is_included_when_the_server_enables_it(
    tenant, receiver, hook_settings
):
    set_hook(tenant, receiver.url)
    tenant.server.raw_email_enabled = True
    tenant.server.save()
    raw = simple_eml(to=inbound_address(tenant), subject="Raw please")
    row = receive(tenant, raw)
    inbound_deliver_attempt(inbound_id=row.id)
    assert receiver.requests[0].json["RawEmail"] == raw.decode()


def test_credentials_in_the_hook_url_are_sent_as_basic_auth(
    tenant, receiver, hook_settings
):
    set_hook(tenant, receiver.url.replace("http://", "http://inbound:s3cr%40t@"))
    row = receive(tenant)
    inbound_deliver_attempt(inbound_id=row.id)
    expected = base64.b64encode(b"inbound:s3cr@t").decode()
    assert receiver.requests[0].headers["Authorization"] == f"Basic {expected}"
    assert receiver.requests[0].path == "/hook"


def test_a_500_schedules_a_retry_on_postmarks_schedule(tenant, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.INBOUND_RETRY_DELAYS = [60, 300, 600]
    receiver.statuses = [500]
    set_hook(tenant, receiver.url)
    row = receive(tenant)
    before = timezone.now()
    assert inbound_deliver_attempt(inbound_id=row.id) == Status.SCHEDULED
    row.refresh_from_db()
    assert row.status == Status.SCHEDULED
    assert row.last_status_code == 500
    assert "HTTP 500" in row.hook_response
    delay = (row.next_attempt_at - before).total_seconds()
    assert 59 <= delay <= 62
    assert receiver.requests[0].headers["X-PM-Retries-Remaining"] == "3"
    # Not due yet: a second call (a duplicate task) does nothing.
    assert inbound_deliver_attempt(inbound_id=row.id) is None
    assert len(receiver.requests) == 1


def test_exhausted_retries_fail_it_and_record_an_inbound_error_bounce(
    tenant, receiver, hook_settings
):
    receiver.statuses = [502]
    set_hook(tenant, receiver.url)
    row = receive(tenant)
    statuses = [inbound_deliver_attempt(inbound_id=row.id) for _ in range(3)]
    assert statuses == [Status.SCHEDULED, Status.SCHEDULED, Status.FAILED]
    assert len(receiver.requests) == 3  # one try + INBOUND_RETRY_DELAYS (2)
    row.refresh_from_db()
    assert row.status == Status.FAILED and row.failed_at is not None
    bounce = Bounce.objects.get(server=tenant.server)
    assert bounce.type == "InboundError" and bounce.type_code == 100008
    assert bounce.message_stream == "inbound"
    assert bounce.email == row.original_recipient
    assert bounce.message_uuid == row.message_id
    assert "HTTP 502" in bounce.details
    # Failed is final until someone retries: nothing more is sent.
    assert inbound_deliver_attempt(inbound_id=row.id) is None


def test_a_403_stops_retries_at_once(tenant, receiver, hook_settings):
    hook_settings.INBOUND_RETRY_DELAYS = [0] * 10
    receiver.statuses = [403]
    set_hook(tenant, receiver.url)
    row = receive(tenant)
    assert inbound_deliver_attempt(inbound_id=row.id) == Status.FAILED
    assert len(receiver.requests) == 1
    assert Bounce.objects.filter(type="InboundError").count() == 1


def test_only_exactly_200_counts_as_processed(tenant, receiver, hook_settings):
    receiver.statuses = [204, 200]
    set_hook(tenant, receiver.url)
    row = receive(tenant)
    assert inbound_deliver_attempt(inbound_id=row.id) == Status.SCHEDULED
    assert inbound_deliver_attempt(inbound_id=row.id) == Status.PROCESSED


def test_a_hook_on_a_private_network_is_refused_without_retries(tenant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    set_hook(tenant, "http://127.0.0.1:9/hook")
    row = receive(tenant)
    assert inbound_deliver_attempt(inbound_id=row.id) == Status.FAILED
    row.refresh_from_db()
    assert "non-public host" in row.hook_response


def test_an_unreachable_hook_is_retried(tenant, hook_settings):
    set_hook(tenant, "http://127.0.0.1:9/hook")  # discard port: connection refused
    row = receive(tenant)
    assert inbound_deliver_attempt(inbound_id=row.id) == Status.SCHEDULED
    row.refresh_from_db()
    assert row.last_status_code is None
    assert "ConnectionError" in row.hook_response


def test_the_sweeper_requeues_a_claim_whose_worker_died(
    tenant, receiver, hook_settings
):
    set_hook(tenant, receiver.url)
    row = receive(tenant)
    # A worker claimed it (attempts + 1, leased) and died before recording.
    InboundMessage.objects.filter(id=row.id).update(
        attempts=1, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert inbound_deliveries_enqueue_due() == 0  # the lease still holds
    InboundMessage.objects.filter(id=row.id).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert inbound_deliveries_enqueue_due() == 1
    assert inbound_deliver_attempt(inbound_id=row.id) == Status.PROCESSED
    row.refresh_from_db()
    assert row.attempts == 2


def test_the_payload_is_the_same_bytes_on_every_retry(tenant, receiver, hook_settings):
    receiver.statuses = [500, 200]
    set_hook(tenant, receiver.url)
    row = receive(tenant)
    inbound_deliver_attempt(inbound_id=row.id)
    inbound_deliver_attempt(inbound_id=row.id)
    first, second = (json.loads(r.body) for r in receiver.requests)
    assert first == second


def test_retention_forgets_old_messages_and_their_raw_unless_still_shared(tenant):
    from inbound.services import inbound_purge
    from messages.archive import archive_get

    old = receive(tenant)
    blocked = receive(tenant)
    fresh = receive(tenant)
    # Two recipients of one message share one raw object.
    address_a, address_b = inbound_address(tenant, "a"), inbound_address(tenant, "b")
    shared_old, shared_new = inbound_receive(
        mail_from="a@example.org",
        rcpt_tos=[address_a, address_b],
        raw=simple_eml(to=address_a),
    ).messages
    long_ago = timezone.now() - timedelta(days=46)
    InboundMessage.objects.filter(id__in=[old.id, shared_old.id]).update(
        received_at=long_ago
    )
    InboundMessage.objects.filter(id=blocked.id).update(
        status=Status.BLOCKED, received_at=timezone.now() - timedelta(days=11)
    )
    assert inbound_purge() == 3
    remaining = set(InboundMessage.objects.values_list("id", flat=True))
    assert remaining == {fresh.id, shared_new.id}
    assert archive_get(key=old.raw_key) is None
    assert archive_get(key=shared_new.raw_key) is not None
    assert inbound_purge() == 0
