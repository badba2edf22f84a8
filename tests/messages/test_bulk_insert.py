"""``postmark_clone.bulk.Writes``: the submission paths' insert (COPY for
large batches, one INSERT for small ones) must store exactly what the ORM would."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from messages.models import Message, Recipient
from postmark_clone.bulk import COPY_MIN_ROWS, Writes

pytestmark = pytest.mark.django_db


def bulk_insert(model, objs) -> None:
    """One insert on its own, sent at once."""
    writes = Writes()
    writes.insert(model, objs)
    writes.send()


def build(tenant, n: int) -> tuple[list[Message], list[Recipient]]:
    now = timezone.now()
    messages, recipients = [], []
    for i in range(n):
        message = Message(
            server=tenant.server,
            from_header=f'"Zoë, Ltd" <{tenant.sender}>',
            from_email=tenant.sender,
            to_header=f"user{i}@example.org",
            recipients_text=f"user{i}@example.org",
            subject=f"Tab\tand \\ backslash and ünïcode {i}",
            tag="welcome" if i % 2 else "",
            # A JSON string value and nested quotes must survive as JSON.
            metadata={"i": str(i), "quote": 'say "hi"\\n', "empty": ""},
            attachment_names=["a.pdf"] if i % 3 == 0 else [],
            received_at=now - timedelta(seconds=i),
        )
        messages.append(message)
        for kind in (Recipient.Kind.TO, Recipient.Kind.CC):
            recipients.append(
                Recipient(
                    message=message,
                    email=f"{kind}{i}@example.org",
                    kind=kind,
                    next_attempt_at=now,
                    server=tenant.server,
                    message_stream="outbound",
                    received_at=now,
                )
            )
    return messages, recipients


@pytest.mark.parametrize("n", [1, COPY_MIN_ROWS - 1, COPY_MIN_ROWS, 3 * COPY_MIN_ROWS])
def test_rows_read_back_equal_to_what_was_built(tenant, n):
    messages, recipients = build(tenant, n)
    bulk_insert(Message, messages)
    for row in recipients:
        row.message = row.message  # pick up the key the insert assigned
    bulk_insert(Recipient, recipients)

    assert all(m.pk for m in messages) and len({m.pk for m in messages}) == n
    stored = {m.pk: m for m in Message.objects.filter(server=tenant.server)}
    assert set(stored) == {m.pk for m in messages}
    for built in messages:
        got = stored[built.pk]
        assert got.message_id == built.message_id
        assert isinstance(got.message_id, uuid.UUID)
        assert got.subject == built.subject
        assert got.from_header == built.from_header
        assert got.metadata == built.metadata
        assert got.attachment_names == built.attachment_names
        assert got.received_at == built.received_at
        assert got.status == Message.Status.QUEUED  # the model default
        assert got.tag == built.tag
    by_message = {}
    for row in Recipient.objects.filter(message__server=tenant.server):
        by_message.setdefault(row.message_id, set()).add((row.kind, row.email))
    assert by_message == {
        m.pk: {("to", f"to{i}@example.org"), ("cc", f"cc{i}@example.org")}
        for i, m in enumerate(messages)
    }


def test_inserted_objects_behave_as_saved(tenant):
    messages, _ = build(tenant, COPY_MIN_ROWS)
    bulk_insert(Message, messages)
    first = messages[0]
    assert first._state.adding is False
    first.subject = "changed"
    first.save(update_fields=["subject"])  # an UPDATE of the stored row
    assert Message.objects.get(pk=first.pk).subject == "changed"
    assert Message.objects.filter(server=tenant.server).count() == COPY_MIN_ROWS


def test_a_failed_insert_stores_nothing(tenant):
    from django.db import DataError, IntegrityError, transaction

    messages, _ = build(tenant, COPY_MIN_ROWS + 1)
    messages[-1].message_id = messages[0].message_id  # unique violation
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        bulk_insert(Message, messages)
    assert not Message.objects.filter(server=tenant.server).exists()


def test_writes_send_rows_and_other_statements_in_one_round_trip(tenant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from postmark_clone import bulk

    messages, recipients = build(tenant, 2)
    # Make sure both key pools hold enough keys, whatever earlier tests in this
    # process used up: a refill is a (rare, amortised) extra round trip.
    for model, needed in ((Message, len(messages)), (Recipient, len(recipients))):
        table = model._meta.db_table
        keys = bulk._pools[table].take(table, model._meta.pk.column, needed)
        bulk._pools[table].keys.extendleft(reversed(keys))
    with CaptureQueriesContext(connection) as queries:
        writes = Writes()
        writes.insert(Message, messages)
        for row in recipients:
            row.message = row.message
        writes.insert(Recipient, recipients)
        writes.add(
            "UPDATE mail_message SET tag = %s WHERE id = %s", ["later", messages[0].pk]
        )
        writes.send()
    assert len(queries.captured_queries) == 1
    assert Message.objects.get(pk=messages[0].pk).tag == "later"
    assert Recipient.objects.filter(message__in=messages).count() == 4


def test_a_forked_process_does_not_reuse_its_parents_reserved_keys(tenant):
    from postmark_clone import bulk

    first = build(tenant, 1)[0]
    bulk_insert(Message, first)
    pool = bulk._pools[Message._meta.db_table]
    parents_next = pool.keys[0]
    pool.pid = -1  # as seen from a child after fork()
    second = build(tenant, 1)[0]
    bulk_insert(Message, second)
    assert second[0].pk != parents_next
    assert second[0].pk > first[0].pk
