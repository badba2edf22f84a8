from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messages import selectors
from messages.models import Message
from messages.selectors import MessageFilters, message_search

from .archive_factories import NOW, make_message

pytestmark = pytest.mark.django_db


def search(server, count=100, offset=0, **filters):
    total, page = message_search(
        server=server, filters=MessageFilters(**filters), count=count, offset=offset
    )
    return total, [m.subject for m in page]


@pytest.fixture
def archive(tenant):
    """A small archive with one distinguishing trait per message."""
    s = tenant.server
    make_message(
        s,
        subject="Welcome aboard",
        to="alice@example.org",
        tag="welcome",
        received_at=NOW - timedelta(days=3),
    )
    make_message(
        s,
        subject="Your invoice 42",
        to="bob@example.net",
        tag="invoice",
        metadata={"customer": "c-1", "plan": "pro"},
        received_at=NOW - timedelta(days=2),
    )
    make_message(
        s,
        subject="Invoice reminder",
        to="Carol@Example.org, dave@x.io",
        tag="invoice",
        status=Message.Status.QUEUED,
        metadata={"customer": "c-2", "plan": "pro"},
        received_at=NOW - timedelta(days=1),
    )
    make_message(
        s,
        subject="Password reset",
        to="alice@example.org",
        from_email="security@acme.example.com",
        tag="reset",
        status=Message.Status.FAILED,
        received_at=NOW,
    )
    make_message(
        s,
        subject="Weekly digest",
        to="alice@example.org",
        stream="broadcast",
        tag="digest",
        received_at=NOW,
    )
    return s


def test_it_lists_the_default_stream_newest_first(archive):
    total, subjects = search(archive)
    assert total == 4
    assert subjects == [
        "Password reset",
        "Invoice reminder",
        "Your invoice 42",
        "Welcome aboard",
    ]


def test_it_filters_by_recipient_substring_ignoring_case(archive):
    assert search(archive, recipient="ALICE@example.org")[1] == [
        "Password reset",
        "Welcome aboard",
    ]
    assert search(archive, recipient="carol@example")[1] == ["Invoice reminder"]
    assert search(archive, recipient="dave@x.io")[1] == ["Invoice reminder"]
    assert search(archive, recipient="nobody@example.org") == (0, [])


def test_a_complete_address_matches_that_recipient_exactly(archive):
    make_message(archive, subject="To Malice", to="malice@example.org")
    assert search(archive, recipient="alice@example.org")[1] == [
        "Password reset",
        "Welcome aboard",
    ]
    # A fragment is a substring search and finds both.
    assert search(archive, recipient="alice@")[0] == 3


def test_an_at_domain_term_matches_recipients_of_that_domain(archive):
    make_message(archive, subject="Sub", to="x@mail.example.org")
    assert search(archive, recipient="@EXAMPLE.org")[1] == [
        "Password reset",
        "Invoice reminder",
        "Welcome aboard",
    ]
    assert search(archive, recipient="@x.io")[1] == ["Invoice reminder"]
    # Without the "@" it is a substring search, which also finds subdomains.
    assert search(archive, recipient="example.org")[0] == 4
    assert search(archive, recipient="@example.org", tag="invoice")[1] == [
        "Invoice reminder"
    ]


def test_an_address_combines_with_every_other_filter(archive):
    assert search(archive, recipient="alice@example.org", status="failed")[1] == [
        "Password reset"
    ]
    assert search(archive, recipient="alice@example.org", tag="welcome")[1] == [
        "Welcome aboard"
    ]
    assert search(archive, recipient="bob@example.net", metadata={"plan": "pro"})[
        1
    ] == ["Your invoice 42"]
    assert search(archive, recipient="carol@example.org", subject="REMINDER")[1] == [
        "Invoice reminder"
    ]
    assert search(archive, recipient="alice@example.org", fromemail="security")[1] == [
        "Password reset"
    ]
    assert search(archive, recipient="alice@example.org", fromemail="nobody")[0] == 0
    assert search(archive, recipient="bob@example.net", status="queued")[0] == 0


def test_recipient_searches_use_the_recipient_indexes(archive):
    # The search key must be an index condition, not a filter on some other
    # index's rows (tiny tables make any index look as good as another).
    address_key = "lower((email)::text) = "
    cases = (
        (MessageFilters(recipient="alice@example.org"), address_key),
        (MessageFilters(recipient="@example.org"), "split_part(lower((email)::text)"),
        # A fragment resolved through the address dictionary (two addresses).
        (MessageFilters(recipient="example.org"), address_key + "ANY"),
    )
    for index in range(40):
        make_message(archive, subject=f"filler {index}", to=f"u{index}@example.net")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE mail_recipient")
        cursor.execute("SET enable_seqscan = off")
        try:
            for filters, key in cases:
                target = selectors._recipient_target(filters.recipient, server=archive)
                assert target is not None
                rows = selectors._address_rows(
                    server=archive, stream="outbound", target=target, filters=filters
                )
                plan = rows.order_by("-received_at").explain()
                conditions = [
                    line for line in plan.splitlines() if "Index Cond" in line
                ]
                assert any(key in line for line in conditions), plan
        finally:
            cursor.execute("RESET enable_seqscan")


def test_an_address_in_to_and_cc_counts_the_message_once(tenant):
    make_message(tenant.server, subject="twice", to="eve@example.org, EVE@example.org")
    assert search(tenant.server, recipient="eve@example.org") == (1, ["twice"])


def test_address_search_pages_through_the_recipient_index(tenant, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 4)
    for index in range(6):
        make_message(
            tenant.server,
            subject=f"m{index}",
            to="eve@example.org",
            received_at=NOW - timedelta(minutes=index),
        )
    make_message(tenant.server, subject="other", to="zed@example.org")
    assert search(tenant.server, recipient="Eve@Example.org", count=2) == (
        4,
        ["m0", "m1"],
    )
    assert search(tenant.server, recipient="eve@example.org", count=2, offset=2) == (
        4,
        ["m2", "m3"],
    )
    monkeypatch.setattr(selectors, "COUNT_CAP", 100)
    assert search(tenant.server, recipient="eve@example.org", count=4, offset=4) == (
        6,
        ["m4", "m5"],
    )
    assert search(
        tenant.server,
        recipient="eve@example.org",
        fromdate=NOW - timedelta(minutes=2),
        todate=NOW - timedelta(minutes=1),
    ) == (2, ["m1", "m2"])


def test_it_treats_like_wildcards_in_a_search_term_literally(archive):
    assert search(archive, recipient="%")[0] == 0
    assert search(archive, subject="_nvoice")[0] == 0


def test_it_filters_by_sender(archive):
    assert search(archive, fromemail="security@")[1] == ["Password reset"]
    assert search(archive, fromemail="SENDER@acme.example.com")[0] == 3
    assert search(archive, fromemail="acme.example.com")[0] == 4
    assert search(archive, fromemail="nobody@")[0] == 0


def test_sender_search_works_the_same_for_servers_with_many_senders(
    archive, monkeypatch
):
    monkeypatch.setattr(selectors, "SENDER_SCAN_LIMIT", 1)
    assert search(archive, fromemail="security@")[1] == ["Password reset"]
    assert search(archive, fromemail="SENDER@acme.example.com")[0] == 3
    assert search(archive, fromemail="nobody@")[0] == 0


def test_it_filters_by_exact_tag(archive):
    assert search(archive, tag="invoice")[1] == ["Invoice reminder", "Your invoice 42"]
    assert search(archive, tag="invo")[0] == 0


def test_it_filters_by_status_with_sent_meaning_processed(archive):
    assert search(archive, status="queued")[1] == ["Invoice reminder"]
    sent = ["Password reset", "Your invoice 42", "Welcome aboard"]
    assert search(archive, status="sent")[1] == sent
    assert search(archive, status="processed")[1] == sent
    assert search(archive, status="failed")[1] == ["Password reset"]


def test_it_filters_by_inclusive_date_range(archive):
    fromdate = NOW - timedelta(days=2)
    assert search(archive, fromdate=fromdate)[1] == [
        "Password reset",
        "Invoice reminder",
        "Your invoice 42",
    ]
    assert search(archive, todate=NOW - timedelta(days=2))[1] == [
        "Your invoice 42",
        "Welcome aboard",
    ]
    assert search(archive, fromdate=fromdate, todate=fromdate)[1] == ["Your invoice 42"]


def test_it_filters_by_subject_substring_ignoring_case(archive):
    assert search(archive, subject="INVOICE")[1] == [
        "Invoice reminder",
        "Your invoice 42",
    ]


def test_it_filters_by_metadata_values(archive):
    assert search(archive, metadata={"customer": "c-1"})[1] == ["Your invoice 42"]
    assert search(archive, metadata={"plan": "pro"})[0] == 2
    assert search(archive, metadata={"plan": "pro", "customer": "c-2"})[1] == [
        "Invoice reminder"
    ]
    assert search(archive, metadata={"plan": "free"})[0] == 0


def test_it_searches_another_stream_only_when_asked(archive):
    assert search(archive, messagestream="broadcast")[1] == ["Weekly digest"]
    assert search(archive, subject="digest")[0] == 0


def test_it_combines_filters_with_and(archive):
    assert search(archive, tag="invoice", status="sent")[1] == ["Your invoice 42"]
    assert search(archive, recipient="alice", tag="reset", status="processed")[1] == [
        "Password reset"
    ]
    assert search(
        archive,
        subject="invoice",
        metadata={"plan": "pro"},
        fromdate=NOW - timedelta(days=1, hours=1),
    )[1] == ["Invoice reminder"]
    assert search(archive, recipient="bob", tag="welcome")[0] == 0


def test_it_pages_with_count_and_offset_and_keeps_the_total(archive):
    assert search(archive, count=2, offset=0) == (
        4,
        ["Password reset", "Invoice reminder"],
    )
    assert search(archive, count=2, offset=2) == (
        4,
        ["Your invoice 42", "Welcome aboard"],
    )
    assert search(archive, count=2, offset=4) == (4, [])


def test_it_never_returns_another_tenants_messages(archive, other_tenant):
    make_message(
        other_tenant.server,
        subject="Globex invoice",
        tag="invoice",
        metadata={"plan": "pro"},
    )
    assert "Globex invoice" not in search(archive, tag="invoice")[1]
    assert search(other_tenant.server, metadata={"plan": "pro"}) == (
        1,
        ["Globex invoice"],
    )


def test_the_total_stops_at_the_paging_ceiling(tenant, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 5)
    for index in range(7):
        make_message(
            tenant.server,
            subject=f"m{index}",
            received_at=NOW - timedelta(minutes=index),
        )
    total, subjects = search(tenant.server, count=2)
    assert total == 5
    assert subjects == ["m0", "m1"]


def test_a_short_last_page_needs_no_count_query(archive):
    with CaptureQueriesContext(connection) as queries:
        total, _ = search(archive, count=10)
    assert total == 4
    assert len(queries) == 1


def test_substring_and_metadata_filters_match_the_gin_indexes(archive):
    # With sequential scans off, a predicate the GIN index cannot serve would
    # still fall back to a scan; seeing the index proves the SQL shape matches it.
    cases = (
        ({"recipients_text__ilike_contains": "alice@example"}, "msg_recipients_trgm"),
        ({"subject__ilike_contains": "Invoice"}, "msg_subject_trgm"),
        ({"metadata__contains": {"plan": "pro"}}, "msg_metadata_gin"),
    )
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            for lookup, index in cases:
                plan = Message.objects.filter(**lookup).only("id").explain()
                assert index in plan, plan
        finally:
            cursor.execute("RESET enable_seqscan")


def test_a_slow_count_falls_back_to_an_estimate_that_keeps_paging_alive(
    tenant, settings
):
    settings.ARCHIVE_COUNT_BUDGET_MS = 5
    for index in range(8):
        make_message(tenant.server, subject=f"m{index}")
    # Each row costs 10 ms to check, so counting blows the 5 ms budget.
    slow = Message.objects.filter(server=tenant.server).extra(
        where=["pg_sleep(0.01) IS NOT NULL"]
    )
    total = selectors._total(slow, seen=4)
    assert 5 <= total <= selectors.COUNT_CAP
    # The caller's transaction survived and the timeout is back to normal.
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
    assert Message.objects.filter(server=tenant.server).count() == 8


def test_a_fast_count_is_exact_and_leaves_no_timeout_behind(tenant, settings):
    settings.ARCHIVE_COUNT_BUDGET_MS = 5000
    for index in range(3):
        make_message(tenant.server, subject=f"m{index}")
    assert search(tenant.server, count=1)[0] == 3
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
