"""Recipient fragments (``alice.0``, ``ann.lee``) searched through the server's
address dictionary (``RecipientAddress``, kept by a PostgreSQL trigger)."""

from __future__ import annotations

import importlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.functions import Lower

from messages import selectors
from messages.models import Message, Recipient, RecipientAddress
from messages.selectors import MessageFilters, message_search

from .archive_factories import NOW, make_message

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)


def search(server, count=100, offset=0, **filters):
    total, page = message_search(
        server=server, filters=MessageFilters(**filters), count=count, offset=offset
    )
    return total, [m.subject for m in page]


def dictionary(server) -> dict[str, object]:
    return dict(
        RecipientAddress.objects.filter(server=server).values_list("email", "last_seen")
    )


@pytest.fixture
def archive(tenant, other_tenant):
    s = tenant.server
    make_message(s, subject="to ann", to="Ann.Lee@example.org", tag="a")
    make_message(
        s,
        subject="to ann twice",
        to="ann.lee@example.org, ann.lee@other.net",
        received_at=NOW + MINUTE,
    )
    make_message(
        s,
        subject="ann in cc",
        to="zed@example.org, ANN.LEE@example.org",
        status=Message.Status.QUEUED,
        received_at=NOW + 2 * MINUTE,
    )
    make_message(
        s,
        subject="ann broadcast",
        to="ann.lee@example.org",
        stream="broadcast",
        received_at=NOW + 3 * MINUTE,
    )
    make_message(
        s,
        subject="joanna",
        to="joann.leeds@example.com",
        metadata={"plan": "pro"},
        received_at=NOW + 4 * MINUTE,
    )
    make_message(s, subject="bob", to="bob@example.org", received_at=NOW + 5 * MINUTE)
    o = other_tenant.server
    make_message(o, subject="globex ann", to="ann.lee@example.org")
    make_message(o, subject="globex leeward", to="ann.leeward@globex.example")
    return s


FRAGMENTS = ["ann.lee", "ANN.LEE", "ann", "lee@example", "example", "ee@", "leeward"]
FILTERS = [
    {},
    {"status": "sent"},
    {"status": "queued"},
    {"messagestream": "broadcast"},
    {"tag": "a"},
    {"metadata": {"plan": "pro"}},
    {"subject": "twice"},
    {"fromdate": NOW + 90 * timedelta(seconds=1)},
    {"todate": NOW + MINUTE, "status": "processed"},
]


def test_a_fragment_finds_each_message_with_a_matching_recipient_once(archive):
    assert search(archive, recipient="ann.lee") == (
        4,
        ["joanna", "ann in cc", "to ann twice", "to ann"],
    )
    assert search(archive, recipient="ann.lee", count=1, offset=2) == (
        4,
        ["to ann twice"],
    )
    assert search(archive, recipient="ann.lee", messagestream="broadcast") == (
        1,
        ["ann broadcast"],
    )
    assert search(archive, recipient="nobody") == (0, [])


def substring_search(server, count=100, offset=0, **filters):
    """The plain substring search on ``recipients_text`` (the message-side
    trigram path, no dictionary involved): what every fragment search must
    return."""
    qs = selectors._filtered(
        server=server, filters=MessageFilters(**filters), target=None
    )
    page = qs.order_by("-received_at", "-id")[offset : offset + count]
    return qs.count(), [m.subject for m in page]


def test_the_dictionary_and_the_substring_search_agree(archive, monkeypatch):
    cases = [
        (fragment, filters, offset)
        for fragment in FRAGMENTS
        for filters in FILTERS
        for offset in (0, 1, 2)
    ]
    expected = {}
    for fragment, filters, offset in cases:
        target = selectors._recipient_target(fragment, server=archive)
        assert target is not None and target[0] in ("address", "addresses"), fragment
        truth = substring_search(archive, recipient=fragment, **filters)
        # count=1: the page is full whenever there is a match, so the capped
        # count runs too instead of being read off a short page.
        found = search(archive, recipient=fragment, count=1, offset=offset, **filters)
        assert found == (truth[0], truth[1][offset : offset + 1]), (fragment, filters)
        expected[fragment, str(filters), offset] = found

    # Past the address limit (here 0) a fragment pages from the message table
    # and counts through the dictionary rows (``_broad_fragment_rows``).
    monkeypatch.setattr(selectors, "FRAGMENT_ADDRESS_LIMIT", 0)
    for fragment, filters, offset in cases:
        if fragment != "leeward":  # no address at all: nothing to fall back to
            assert selectors._recipient_target(fragment, server=archive) is None
        found = search(archive, recipient=fragment, count=1, offset=offset, **filters)
        assert found == expected[fragment, str(filters), offset], (fragment, filters)

    # Fragments expected to match very many addresses count on the message
    # table (trigram) instead.
    monkeypatch.setattr(selectors, "DENSE_FRAGMENT_ADDRESSES", 0)
    for fragment, filters, offset in cases:
        found = search(archive, recipient=fragment, count=1, offset=offset, **filters)
        assert found == expected[fragment, str(filters), offset], (fragment, filters)
    # The comparison covered real results, not only empty ones.
    assert expected["ann.lee", "{}", 0] == (4, ["joanna"])
    assert expected["example", str({"messagestream": "broadcast"}), 0] == (
        1,
        ["ann broadcast"],
    )


def test_a_broad_fragment_counts_messages_not_recipients(tenant, monkeypatch):
    monkeypatch.setattr(selectors, "FRAGMENT_ADDRESS_LIMIT", 0)
    for index in range(7):
        make_message(
            tenant.server,
            subject=f"m{index}",
            to=f"kim{index}@a.example, kim{index}@b.example",
            received_at=NOW + index * MINUTE,
        )
    assert search(tenant.server, recipient="kim", count=2) == (7, ["m6", "m5"])
    # With a cap of 10 the first read (11 rows) holds only 6 messages: it must
    # read further rather than answer 6.
    monkeypatch.setattr(selectors, "COUNT_CAP", 10)
    assert search(tenant.server, recipient="kim", count=2)[0] == 7
    monkeypatch.setattr(selectors, "COUNT_CAP", 5)
    assert search(tenant.server, recipient="kim", count=2)[0] == 5


def test_a_fragment_never_matches_another_tenants_addresses(archive, other_tenant):
    # Not the other tenant's ann.leeward@globex.example.
    assert selectors._fragment_addresses(server=archive, fragment="ann.lee") == [
        "ann.lee@example.org",
        "ann.lee@other.net",
        "joann.leeds@example.com",
    ]
    assert selectors._fragment_addresses(server=archive, fragment="leeward") == []
    assert search(archive, recipient="leeward") == (0, [])
    assert search(other_tenant.server, recipient="ann.lee") == (
        2,
        ["globex leeward", "globex ann"],
    )


def test_the_api_lists_only_the_tenants_own_fragment_matches(
    api, archive, tenant, other_tenant
):
    response = api.get(
        "/messages/outbound",
        {"count": 50, "offset": 0, "recipient": "ann.leew"},
        **tenant.server_headers,
    )
    assert response.status_code == 200
    assert response.json() == {"TotalCount": 0, "Messages": []}
    response = api.get(
        "/messages/outbound",
        {"count": 50, "offset": 0, "recipient": "ann.leew"},
        **other_tenant.server_headers,
    )
    assert [m["Subject"] for m in response.json()["Messages"]] == ["globex leeward"]


def test_too_many_matching_addresses_fall_back_to_the_substring_search(
    archive, monkeypatch
):
    monkeypatch.setattr(selectors, "FRAGMENT_ADDRESS_LIMIT", 2)
    assert selectors._recipient_target("ann.lee", server=archive) is None  # 3
    assert selectors._recipient_target("ann.lee@", server=archive)[0] == "addresses"
    assert search(archive, recipient="ann.lee")[0] == 4
    # A comma can span two recipients of the list: only the substring finds it.
    assert selectors._recipient_target("zed@example.org,ann", server=archive) is None
    assert search(archive, recipient="zed@example.org,ann") == (1, ["ann in cc"])


def test_sending_adds_new_addresses_to_the_dictionary(api, tenant):
    body = {
        "From": tenant.sender,
        "To": "New Person <New.Person@Example.org>",
        "Cc": "x@y.example",
        "Subject": "hello",
        "TextBody": "hi",
    }
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert response.status_code == 200, response.content
    message = Message.objects.get(message_id=response.json()["MessageID"])
    assert dictionary(tenant.server) == {
        "new.person@example.org": message.received_at,
        "x@y.example": message.received_at,
    }
    assert selectors._recipient_target("w.pers", server=tenant.server) == (
        "address",
        "new.person@example.org",
    )
    assert search(tenant.server, recipient="w.pers") == (1, ["hello"])


def test_last_seen_moves_forward_at_most_once_a_day(tenant):
    server = tenant.server
    make_message(server, to="eve@example.org", received_at=NOW)
    make_message(server, to="eve@example.org", received_at=NOW + timedelta(hours=23))
    assert dictionary(server) == {"eve@example.org": NOW}
    make_message(server, to="eve@example.org", received_at=NOW - timedelta(days=9))
    assert dictionary(server) == {"eve@example.org": NOW}
    later = NOW + RecipientAddress.REFRESH_INTERVAL + timedelta(seconds=1)
    make_message(server, to="EVE@example.org", received_at=later)
    assert dictionary(server) == {"eve@example.org": later}


def test_one_insert_naming_an_address_twice_makes_one_row(tenant):
    message = make_message(tenant.server, to="first@example.org")
    Recipient.objects.bulk_create(
        [
            Recipient(
                message=message,
                email=email,
                next_attempt_at=NOW,
                server=tenant.server,
                message_stream="outbound",
                received_at=NOW + timedelta(days=2, minutes=minutes),
            )
            for minutes, email in enumerate(["Dup@x.example", "dup@X.example"])
        ]
    )
    assert dictionary(tenant.server)["dup@x.example"] == NOW + timedelta(
        days=2, minutes=1
    )


def expected_dictionary() -> dict[tuple[int, str], object]:
    """What the dictionary must hold: every (server, lower(email)) of the
    recipient rows, with its latest send."""
    rows = Recipient.objects.values_list("server_id", Lower("email"), "received_at")
    latest: dict[tuple[int, str], object] = {}
    for server_id, email, received_at in rows:
        key = (server_id, email)
        latest[key] = max(latest.get(key, received_at), received_at)
    return latest


def actual_dictionary() -> dict[tuple[int, str], object]:
    return {
        (server_id, email): last_seen
        for server_id, email, last_seen in RecipientAddress.objects.values_list(
            "server_id", "email", "last_seen"
        )
    }


def test_the_migration_backfills_addresses_sent_before_it(archive):
    migration = importlib.import_module(
        "messages.migrations.0005_recipient_address_dictionary"
    )
    RecipientAddress.objects.all().delete()
    with connection.schema_editor() as editor:
        migration.backfill(None, editor)
    assert len(expected_dictionary()) == 7
    assert actual_dictionary() == expected_dictionary()


@pytest.mark.django_db(transaction=True)  # seed_archive VACUUMs at the end
@pytest.mark.parametrize("defer_indexes", [False, True])
def test_seed_archive_fills_the_dictionary(defer_indexes):
    call_command(
        "seed_archive",
        messages=400,
        servers=2,
        recipients=300,
        defer_indexes=defer_indexes,
        stdout=StringIO(),
    )
    expected = expected_dictionary()
    assert len({server_id for server_id, _email in expected}) == 2
    assert len(expected) > 100
    # COPY fires the statement trigger (seeded sends are spread over 30 days,
    # so last_seen lags the newest send by less than a day), or, with deferred
    # indexes, one backfill pass writes the latest send.
    actual = actual_dictionary()
    assert actual.keys() == expected.keys()
    for key, latest in expected.items():
        assert latest - RecipientAddress.REFRESH_INTERVAL <= actual[key] <= latest
