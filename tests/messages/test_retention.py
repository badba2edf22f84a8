from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from bounces.models import Bounce
from messages.archive import archive_get, archive_key, archive_put
from messages.models import Message, MessageEvent, Recipient, RecipientAddress
from messages.retention import archive_purge
from postmark_clone.celery import app as celery_app
from tests.archive_s3 import s3_archive  # noqa: F401  (fixture)

from .archive_factories import NOW, add_event, make_message

pytestmark = pytest.mark.django_db

ONE_TICK = timedelta(microseconds=1)


def archived(server, *, received_at, transient=False, **fields) -> Message:
    """A message with a real raw MIME object in the archive storage."""
    message = make_message(server, received_at=received_at, **fields)
    key = archive_key(
        server_id=server.id,
        kind="transient" if transient else "messages",
        when=received_at,
        name=str(message.message_id),
    )
    message.archive_key = archive_put(key=key, data=b"Subject: hi\r\n\r\nbody\r\n")
    message.save(update_fields=["archive_key"])
    add_event(message, MessageEvent.Type.DELIVERED, received_at)
    return message


def exists(message: Message) -> bool:
    return Message.objects.filter(pk=message.pk).exists()


def test_it_deletes_exactly_what_is_past_retention(tenant):
    server = tenant.server  # default retention: 45 days
    cutoff = NOW - timedelta(days=45)
    expired = archived(server, received_at=cutoff - ONE_TICK)
    boundary = archived(server, received_at=cutoff)
    recent = archived(server, received_at=NOW - timedelta(days=1))
    expired_key = expired.archive_key

    result = archive_purge(now=NOW)

    assert result.complete
    assert result.messages_deleted == 1
    assert not exists(expired)
    assert exists(boundary) and exists(recent)
    assert not Recipient.objects.filter(message_id=expired.pk).exists()
    assert not MessageEvent.objects.filter(message_id=expired.pk).exists()
    assert archive_get(key=expired_key) is None
    assert archive_get(key=boundary.archive_key) is not None
    assert Recipient.objects.filter(message_id=boundary.pk).exists()


def test_each_server_keeps_its_own_retention(tenant, other_tenant):
    other_tenant.server.retention_days = 7
    other_tenant.server.save(update_fields=["retention_days"])
    ten_days_old = NOW - timedelta(days=10)
    mine = archived(tenant.server, received_at=ten_days_old)
    theirs = archived(other_tenant.server, received_at=ten_days_old)
    archive_purge(now=NOW)
    assert exists(mine)
    assert not exists(theirs)


def test_bounces_and_their_copied_fields_survive_the_purge(tenant):
    message = archived(
        tenant.server, received_at=NOW - timedelta(days=60), subject="Old news"
    )
    bounce = Bounce.objects.create(
        server=tenant.server,
        message=message,
        message_uuid=message.message_id,
        type="HardBounce",
        type_code=1,
        email="alice@example.org",
        subject=message.subject,
        bounced_at=message.received_at,
    )
    archive_purge(now=NOW)
    bounce.refresh_from_db()
    assert not exists(message)
    assert bounce.message_id is None
    assert bounce.message_uuid == message.message_id
    assert bounce.subject == "Old news"


def test_it_works_in_small_batches_and_resumes_where_it_stopped(tenant):
    old = [
        archived(tenant.server, received_at=NOW - timedelta(days=50, minutes=i))
        for i in range(5)
    ]
    first = archive_purge(now=NOW, batch_size=2, max_batches=1)
    assert not first.complete
    assert first.messages_deleted == 2
    assert Message.objects.count() == 3
    second = archive_purge(now=NOW, batch_size=2)
    assert second.complete
    assert second.messages_deleted == 3
    assert not any(exists(m) for m in old)
    # Running again finds nothing to do.
    third = archive_purge(now=NOW, batch_size=2)
    assert (third.messages_deleted, third.objects_deleted, third.complete) == (
        0,
        0,
        True,
    )


def test_a_missing_archive_object_does_not_stop_the_purge(tenant):
    message = archived(tenant.server, received_at=NOW - timedelta(days=46))
    from django.core.files.storage import storages

    storages["archive"].delete(message.archive_key)  # e.g. a crash mid-batch
    archive_purge(now=NOW)
    assert not exists(message)


def test_it_deletes_expired_objects_from_s3(tenant, s3_archive):  # noqa: F811
    old = archived(tenant.server, received_at=NOW - timedelta(days=46))
    new = archived(tenant.server, received_at=NOW - timedelta(days=44))
    assert len(list(s3_archive.objects.all())) == 2
    result = archive_purge(now=NOW)
    assert result.objects_deleted == 1
    assert [o.key for o in s3_archive.objects.all()] == [f"archive/{new.archive_key}"]
    assert not exists(old)


# --- content-free servers -----------------------------------------------------------


def test_content_free_servers_lose_the_mime_once_delivery_is_final(tenant):
    server = tenant.server
    server.store_content = False
    server.save(update_fields=["store_content"])
    delivered = archived(server, received_at=NOW, transient=True)
    waiting = archived(
        server,
        received_at=NOW,
        transient=True,
        status=Message.Status.QUEUED,
        recipient_status=Recipient.Status.QUEUED,
    )
    key = delivered.archive_key

    result = archive_purge(now=NOW)

    assert result.contents_cleared == 1
    delivered.refresh_from_db()
    waiting.refresh_from_db()
    assert delivered.archive_key == "" and archive_get(key=key) is None
    assert exists(delivered)  # metadata stays until retention
    assert archive_get(key=waiting.archive_key) is not None

    # Once the last recipient is final, the next sweep takes it too.
    waiting.recipients.update(status=Recipient.Status.BOUNCED)
    archive_purge(now=NOW)
    waiting.refresh_from_db()
    assert waiting.archive_key == ""


def test_content_keeping_servers_keep_the_mime_after_delivery(tenant):
    message = archived(tenant.server, received_at=NOW)
    archive_purge(now=NOW)
    message.refresh_from_db()
    assert archive_get(key=message.archive_key) is not None


def test_a_sent_content_free_message_is_archived_as_transient(api, tenant):
    tenant.server.store_content = False
    tenant.server.save(update_fields=["store_content"])
    response = api.send_json(
        "POST",
        "/email",
        {
            "From": tenant.sender,
            "To": "alice@example.org",
            "Subject": "Hi",
            "TextBody": "x",
        },
        **tenant.server_headers,
    )
    message = Message.objects.get(message_id=response.json()["MessageID"])
    assert message.archive_key.startswith("transient/")
    assert archive_get(key=message.archive_key) is not None  # delivery needs it
    message.recipients.update(status=Recipient.Status.DELIVERED)
    archive_purge()
    message.refresh_from_db()
    assert message.archive_key == ""


# --- recipient address dictionary (fragment search) --------------------------------


def addresses(server) -> set[str]:
    return set(
        RecipientAddress.objects.filter(server=server).values_list("email", flat=True)
    )


def test_it_forgets_addresses_last_seen_past_retention(tenant, other_tenant):
    server = tenant.server  # 45 days
    other_tenant.server.retention_days = 365
    other_tenant.server.save()
    cutoff = NOW - timedelta(days=45)
    slack = RecipientAddress.REFRESH_INTERVAL
    make_message(server, to="gone@example.org", received_at=cutoff - slack - ONE_TICK)
    # Its message expires, but last_seen may lag a send by up to ``slack``.
    make_message(server, to="Lagging@example.org", received_at=cutoff - ONE_TICK)
    make_message(server, to="kept@example.org", received_at=cutoff - timedelta(days=9))
    make_message(server, to="kept@example.org", received_at=NOW)
    make_message(other_tenant.server, to="gone@example.org", received_at=cutoff - slack)

    result = archive_purge(now=NOW)

    assert result.complete
    assert result.addresses_deleted == 1
    assert addresses(server) == {"lagging@example.org", "kept@example.org"}
    assert addresses(other_tenant.server) == {"gone@example.org"}


def test_addresses_are_forgotten_only_once_their_messages_are(tenant):
    for index in range(3):
        make_message(
            tenant.server,
            to=f"old{index}@example.org",
            received_at=NOW - timedelta(days=60, minutes=index),
        )
    first = archive_purge(now=NOW, batch_size=2, max_batches=1)
    assert (first.complete, first.messages_deleted, first.addresses_deleted) == (
        False,
        2,
        0,
    )
    assert addresses(tenant.server) == {f"old{i}@example.org" for i in range(3)}
    second = archive_purge(now=NOW, batch_size=2)
    assert (second.complete, second.messages_deleted, second.addresses_deleted) == (
        True,
        1,
        3,
    )
    assert addresses(tenant.server) == set()


# --- edges ---------------------------------------------------------------------------


def test_the_operator_command_reports_what_it_deleted(tenant):
    archived(tenant.server, received_at=NOW - timedelta(days=400))
    out = StringIO()
    call_command("purge_archive", "--batch-size", "10", stdout=out)
    assert (
        "deleted 1 messages, 1 archive objects and 1 recipient addresses"
        in out.getvalue()
    )
    assert Message.objects.count() == 0


def test_the_purge_is_a_periodic_job():
    entries = celery_app.conf.beat_schedule.values()
    assert any(e["task"] == "messages.tasks.purge_archive" for e in entries)
    from messages import tasks

    assert tasks.purge_archive.name == "messages.tasks.purge_archive"
