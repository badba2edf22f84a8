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
    rows = {
        (r.tag_key, r.name): r.value
        for r in DailyStat.objects.filter(server=tenant.server, day=DAY)
    }
    assert rows == {
        ("", "Sent"): 300,
        ("", "Bounced"): 150,
        ("t", "Sent"): 300,
        ("t", "Bounced"): 150,
    }


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
