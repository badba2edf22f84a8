"""Benchmark: statistics counters and tenant webhook delivery.

Usage (against a migrated database, e.g. after `manage.py migrate`):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \
        python bench/stats_webhooks.py [--runs 3] [--records 2000] [--threads 4] \
        [--days 365] [--tags 20] [--deliveries 300]

Measures, each as the median of --runs runs:
  * stats_record_serial_ops_s: stats_record calls/s, one transaction each;
  * stats_record_hot_row_ops_s: the same from --threads threads on one counter
    row (the worst case: every send of a server on one day and tag);
  * stats_read_all_ms / stats_read_tag_ms: GET /stats/outbound/sends' query over
    --days x --tags counter rows (all time, without and with a tag filter);
  * webhook_emit_ms: webhook_emit with 3 matching webhooks (rolled back);
  * webhook_deliveries_s: claim + signed POST + record, sequentially, to a local
    HTTP receiver answering 200.
Creates a throwaway tenant and deletes it afterwards. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postmark_clone.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.services import account_create, server_create  # noqa: E402
from bounces.models import DailyStat  # noqa: E402
from bounces.selectors_stats import StatsFilter, stats_counters  # noqa: E402
from bounces.stats import stats_record  # noqa: E402
from webhooks.models import WebhookDelivery  # noqa: E402
from webhooks.services import (  # noqa: E402
    WebhookInput,
    webhook_create,
    webhook_delivery_attempt,
    webhook_emit,
)

PAYLOAD = {
    "RecordType": "Delivery",
    "ServerID": 1,
    "MessageStream": "outbound",
    "MessageID": str(uuid.uuid4()),
    "Recipient": "john@example.com",
    "Tag": "bench",
    "DeliveredAt": "2026-11-23T09:30:00.000000Z",
    "Details": "250 2.0.0 OK",
    "Metadata": {},
}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_serial(server_id: int, n: int) -> float:
    def run() -> None:
        for i in range(n):
            with transaction.atomic():
                stats_record(
                    server_id=server_id,
                    message_stream="outbound",
                    tag=f"t{i % 10}",
                    day=date(2026, 1, 1),
                    counts={"Sent": 1},
                )

    return n / timed(run)


def bench_hot_row(server_id: int, n: int, threads: int) -> float:
    per = max(n // threads, 1)

    def work() -> None:
        try:
            for _ in range(per):
                with transaction.atomic():
                    stats_record(
                        server_id=server_id,
                        message_stream="outbound",
                        tag="hot",
                        day=date(2026, 1, 2),
                        counts={"Sent": 1},
                    )
        finally:
            connection.close()

    def run() -> None:
        pool = [threading.Thread(target=work) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()

    return per * threads / timed(run)


def seed_reads(server_id: int, days: int, tags: int) -> None:
    start = date(2025, 1, 1)
    with transaction.atomic():
        for d in range(days):
            for t in range(tags):
                stats_record(
                    server_id=server_id,
                    message_stream="outbound",
                    tag=f"tag{t}",
                    day=start + timedelta(days=d),
                    counts={"Sent": 10, "Bounced": 1, "HardBounce": 1},
                )


def bench_read(server, tag: str) -> float:
    def run() -> None:
        stats_counters(
            server=server,
            filters=StatsFilter(tag=tag),
            names=["Sent"],
            by_day=True,
        )

    return timed(run) * 1000


class Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--tags", type=int, default=20)
    parser.add_argument("--deliveries", type=int, default=300)
    args = parser.parse_args()
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    account = account_create(name=f"bench-{uuid.uuid4().hex[:8]}").obj
    server = server_create(account=account, name="bench").obj
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    results: dict[str, list[float]] = {
        "stats_record_serial_ops_s": [],
        "stats_record_hot_row_ops_s": [],
        "stats_read_all_ms": [],
        "stats_read_tag_ms": [],
        "webhook_emit_ms": [],
        "webhook_deliveries_s": [],
    }
    try:
        seed_reads(server.id, args.days, args.tags)
        hooks = [
            webhook_create(
                server=server,
                data=WebhookInput(url=url, triggers={"Delivery": {"Enabled": True}}),
            )
            for _ in range(3)
        ]
        for _ in range(args.runs):
            results["stats_record_serial_ops_s"].append(
                bench_serial(server.id, args.records)
            )
            results["stats_record_hot_row_ops_s"].append(
                bench_hot_row(server.id, args.records, args.threads)
            )
            results["stats_read_all_ms"].append(bench_read(server, ""))
            results["stats_read_tag_ms"].append(bench_read(server, "tag7"))

            def emit() -> None:
                with transaction.atomic():
                    webhook_emit(
                        server=server,
                        message_stream="outbound",
                        record_type="Delivery",
                        payload=PAYLOAD,
                    )
                    transaction.set_rollback(True)  # no rows, no task messages

            results["webhook_emit_ms"].append(timed(emit) * 1000)
            rows = WebhookDelivery.objects.bulk_create(
                WebhookDelivery(
                    webhook=hooks[i % 3],
                    record_type="Delivery",
                    body=WebhookDelivery.encode(PAYLOAD),
                    next_attempt_at=timezone.now(),
                )
                for i in range(args.deliveries)
            )

            def deliver(rows=rows) -> None:
                for row in rows:
                    assert webhook_delivery_attempt(delivery_id=row.id) == "delivered"

            results["webhook_deliveries_s"].append(args.deliveries / timed(deliver))
    finally:
        receiver.shutdown()
        DailyStat.objects.filter(server=server).delete()
        account.delete()
    summary = {
        "params": vars(args),
        "database": connection.vendor,
        "seeded_counter_rows": args.days * (args.tags + 1) * 3,
        **{key: round(statistics.median(values), 2) for key, values in results.items()},
        "runs": {key: [round(v, 2) for v in values] for key, values in results.items()},
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
