from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, transaction

from bounces.models import DailyStat
from bounces.stats import stats_record, stats_tag_key

DAY = date(2026, 11, 23)


def test_concurrent_writers_never_lose_an_increment(transactional_db, tenant):
    """Many workers recording the same counter at once add up exactly (the
    upsert adds inside the database, never read-modify-write in Python)."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(25):
                with transaction.atomic():
                    stats_record(
                        server_id=tenant.server.id,
                        message_stream="outbound",
                        tag="t",
                        day=DAY,
                        counts={"Sent": 2, "Bounced": 1},
                    )
        except Exception as exc:  # noqa: BLE001 - reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows: dict[tuple[str, str], int] = {}
    for r in DailyStat.objects.filter(server=tenant.server, day=DAY):
        rows[(r.tag_key, r.name)] = rows.get((r.tag_key, r.name), 0) + r.value
    assert rows == {
        ("", "Sent"): 300,
        ("", "Bounced"): 150,
        ("t", "Sent"): 300,
        ("t", "Bounced"): 150,
    }


def test_concurrent_submissions_do_not_wait_on_each_others_counters(
    transactional_db, tenant
):
    """Two open transactions counting Sent for the same server, stream, tag and
    day: the second must not queue behind the first's row lock (with a single
    counter row it would, until the first commits)."""
    first_recorded = threading.Event()
    release_first = threading.Event()
    outcome: dict[str, object] = {}

    def record() -> None:
        stats_record(
            server_id=tenant.server.id,
            message_stream="outbound",
            tag="welcome",
            day=DAY,
            counts={"Sent": 1},
        )

    def first() -> None:
        try:
            with transaction.atomic():
                record()
                first_recorded.set()
                release_first.wait(10)
        finally:
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
                record()
            outcome["ok"] = True
        except Exception as exc:  # noqa: BLE001 - reported in the main thread
            outcome["error"] = exc
        finally:
            connection.close()

    holder = threading.Thread(target=first)
    holder.start()
    assert first_recorded.wait(10)
    waiter = threading.Thread(target=second)
    waiter.start()
    waiter.join(15)
    release_first.set()
    holder.join(15)
    assert outcome == {"ok": True}
    total = sum(
        DailyStat.objects.filter(
            server=tenant.server, tag_key="", name="Sent"
        ).values_list("value", flat=True)
    )
    assert total == 2


@pytest.mark.django_db
def test_counters_roll_back_with_the_event_transaction(tenant):
    with pytest.raises(RuntimeError), transaction.atomic():
        stats_record(
            server_id=tenant.server.id,
            message_stream="outbound",
            tag="",
            day=DAY,
            counts={"Sent": 1},
        )
        raise RuntimeError("the event failed")
    assert not DailyStat.objects.exists()


@pytest.mark.django_db
def test_zero_counts_write_nothing(tenant):
    stats_record(
        server_id=tenant.server.id,
        message_stream="outbound",
        tag="x",
        day=DAY,
        counts={"Sent": 0},
    )
    assert not DailyStat.objects.exists()


def test_tag_keys_are_short_and_unambiguous():
    assert stats_tag_key("welcome") == "welcome"
    long_key = stats_tag_key("x" * 65)
    assert long_key.startswith("sha256:") and len(long_key) == 71
    # A real tag that looks like a hash key is hashed too, so it cannot collide.
    assert stats_tag_key(long_key) != long_key
