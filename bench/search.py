"""Archive search benchmark: p50/p95 of ``message_search`` per filter and size.

Usage (from the repository root, PostgreSQL running)::

    python bench/search.py                                  # 100k, 1M, 2M
    python bench/search.py --sizes 100000 --runs 3 --iterations 20
    python bench/search.py --db postgres://postgres@127.0.0.1:5432/bench_archive \\
        --json var/bench/search.json --markdown var/bench/search.md

It uses a dedicated database (created and migrated if missing; default
``bench_archive``) and grows it with ``manage.py seed_archive`` to each size in
turn, reusing what is already there, so a later run at 2M only seeds the
difference. For each size it times ``messages.selectors.message_search`` (page of
50 + capped TotalCount, the work behind ``GET /messages/outbound``) on the
largest seeded server, for each filter alone and a few combinations. Each filter
runs ``--iterations`` times per run (after a warm-up); a run reports p50/p95 and
the result is the **median over ``--runs`` runs**. Values that should vary
(a recipient, a customer id, a subject word) are drawn afresh per iteration so
the numbers are not one cached page. Prints a JSON summary (and writes it with
``--json``), a markdown table (``--markdown``), and EXPLAIN ANALYZE for the
slowest filter at the largest size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/bench_archive"
TARGET_P95_MS = 100.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    )
    parser.add_argument("--sizes", default="100000,1000000,2000000")
    parser.add_argument("--servers", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--count", type=int, default=50, help="page size")
    parser.add_argument("--json", dest="json_path", default="")
    parser.add_argument("--markdown", dest="markdown_path", default="")
    parser.add_argument("--no-seed", action="store_true", help="measure as is")
    return parser.parse_args()


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postmark_clone.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed_to(size: int, servers: int) -> None:
    from django.core.management import call_command

    from messages.models import Message

    have = Message.objects.count()
    if have >= size:
        print(f"reusing {have} messages (>= {size})", file=sys.stderr)
        return
    print(f"seeding {size - have} messages to reach {size}...", file=sys.stderr)
    call_command(
        "seed_archive",
        messages=size - have,
        servers=servers,
        defer_indexes=True,
        stdout=sys.stderr,
    )


class Cases:
    """Filter cases for one server; ``make(name)`` returns fresh filters."""

    def __init__(self, server) -> None:
        from django.db import connection
        from django.utils import timezone

        from messages.management.commands.seed_archive import recipient_address

        self.server = server
        self.now = timezone.now()
        self.rng = random.Random(7)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT min(id), max(id) FROM mail_message WHERE server_id = %s",
                [server.id],
            )
            low, high = cursor.fetchone()
            ids = [self.rng.randint(low, high) for _ in range(400)]
            cursor.execute(
                "SELECT recipients_text, subject, metadata->>'customer' "
                "FROM mail_message WHERE id = ANY(%s) AND server_id = %s",
                [ids, server.id],
            )
            rows = cursor.fetchall()
        self.sample_recipients = [r[0].split(",")[0] for r in rows]
        self.sample_words = [r[1].split()[-1].strip("#!") for r in rows]
        self.sample_customers = [r[2] for r in rows if r[2]]
        self.popular_recipient = recipient_address(0, server.id)
        self.absent = [f"nobody.{n}@nowhere.example" for n in range(1000)]
        self.sender = f"billing@server{server.id}.example.com"

    def names(self) -> list[str]:
        return list(self._table())

    def _table(self) -> dict[str, Any]:
        from messages.selectors import MessageFilters as F

        now, rng = self.now, self.rng
        day = timedelta(days=1)
        return {
            "no filter": lambda: F(),
            "recipient (popular)": lambda: F(recipient=self.popular_recipient),
            "recipient (random row)": lambda: F(
                recipient=rng.choice(self.sample_recipients)
            ),
            "recipient (absent)": lambda: F(recipient=rng.choice(self.absent)),
            "recipient (@domain)": lambda: F(
                recipient=f"@company{rng.randrange(190)}.example"
            ),
            "recipient (fragment: local part)": lambda: F(
                recipient=rng.choice(self.sample_recipients).split("@")[0]
            ),
            "fromemail": lambda: F(fromemail=self.sender),
            "tag (popular)": lambda: F(tag="tag-0"),
            "tag (rare)": lambda: F(tag=f"tag-{rng.randrange(30, 50)}"),
            "status queued": lambda: F(status="queued"),
            "status sent": lambda: F(status="sent"),
            "date range (1 day)": lambda: F(
                fromdate=now - day * (d := rng.randrange(2, 29)),
                todate=now - day * (d - 1),
            ),
            "subject (common word)": lambda: F(subject="invoice"),
            "subject (word of a random row)": lambda: F(
                subject=rng.choice(self.sample_words)
            ),
            "messagestream broadcast": lambda: F(messagestream="broadcast"),
            "metadata (popular)": lambda: F(metadata={"plan": "pro"}),
            "metadata (rare)": lambda: F(
                metadata={"customer": rng.choice(self.sample_customers)}
            ),
            "tag + status": lambda: F(tag="tag-1", status="sent"),
            "recipient + 7 days": lambda: F(
                recipient=rng.choice(self.sample_recipients),
                fromdate=now - 7 * day,
            ),
            "recipient + status": lambda: F(
                recipient=rng.choice(self.sample_recipients), status="sent"
            ),
            "metadata + tag": lambda: F(metadata={"plan": "team"}, tag="tag-2"),
            "subject + fromemail + 7 days": lambda: F(
                subject="receipt", fromemail=self.sender, fromdate=now - 7 * day
            ),
        }

    def make(self, name: str):
        return self._table()[name]()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure(cases: Cases, runs: int, iterations: int, count: int) -> dict[str, Any]:
    from messages.selectors import message_search

    results: dict[str, Any] = {}
    for name in cases.names():
        p50s, p95s, totals = [], [], []
        for _run in range(runs):
            timings = []
            for i in range(iterations + 2):
                filters = cases.make(name)
                start = time.perf_counter()
                total, _page = message_search(
                    server=cases.server, filters=filters, count=count, offset=0
                )
                elapsed = (time.perf_counter() - start) * 1000
                if i >= 2:  # warm-up
                    timings.append(elapsed)
                    totals.append(total)
            p50s.append(percentile(timings, 0.5))
            p95s.append(percentile(timings, 0.95))
        results[name] = {
            "p50_ms": round(statistics.median(p50s), 2),
            "p95_ms": round(statistics.median(p95s), 2),
            "p95_runs_ms": [round(v, 2) for v in p95s],
            "median_total": statistics.median(totals),
        }
        print(
            f"  {name:32} p50 {results[name]['p50_ms']:8.2f} ms  "
            f"p95 {results[name]['p95_ms']:8.2f} ms  total~{results[name]['median_total']}",
            file=sys.stderr,
        )
    return results


def explain(cases: Cases, name: str, count: int) -> str:
    from messages import selectors

    filters = cases.make(name)
    qs = selectors._filtered(server=cases.server, filters=filters)
    page = qs.order_by("-received_at", "-id")[:count]
    counted = qs.order_by()[: selectors.COUNT_CAP]
    return (
        f"-- {name}: page\n{page.explain(analyze=True, buffers=True)}\n\n"
        f"-- {name}: count (capped)\n"
        f"{counted.values('id').explain(analyze=True, buffers=True)}"
    )


def markdown(summary: dict[str, Any]) -> str:
    sizes = list(summary["sizes"])
    head = (
        "| filter | " + " | ".join(f"{int(s):,} p50 / p95 (ms)" for s in sizes) + " |"
    )
    lines = [head, "|---|" + "---|" * len(sizes)]
    names = list(next(iter(summary["sizes"].values()))["filters"])
    for name in names:
        cells = []
        for size in sizes:
            r = summary["sizes"][size]["filters"][name]
            flag = " ⚠" if r["p95_ms"] >= TARGET_P95_MS else ""
            cells.append(f"{r['p50_ms']:.1f} / {r['p95_ms']:.1f}{flag}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    ensure_database(args.db)
    setup_django(args.db)
    from django.db.models import Count

    from accounts.models import Server

    summary: dict[str, Any] = {
        "database": args.db.rsplit("@", 1)[-1],
        "machine": f"{platform.node()} {os.cpu_count()} CPUs, {platform.python_version()}",
        "runs": args.runs,
        "iterations": args.iterations,
        "page_size": args.count,
        "sizes": {},
    }
    cases = None
    for size in [int(s) for s in args.sizes.split(",") if s]:
        if not args.no_seed:
            seed_to(size, args.servers)
        server = Server.objects.annotate(n=Count("messages")).order_by("-n").first()
        cases = Cases(server)
        print(
            f"size {size:,}: server {server.id} has {server.n:,} messages",
            file=sys.stderr,
        )
        filters = measure(cases, args.runs, args.iterations, args.count)
        summary["sizes"][str(size)] = {
            "server_messages": server.n,
            "filters": filters,
            "max_p95_ms": max(r["p95_ms"] for r in filters.values()),
        }
    if cases is not None:
        last = list(summary["sizes"].values())[-1]["filters"]
        slowest = max(last, key=lambda n: last[n]["p95_ms"])
        summary["slowest_filter"] = slowest
        summary["explain"] = explain(cases, slowest, args.count)
    table = markdown(summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "explain"}, indent=2))
    print(table, file=sys.stderr)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(summary, indent=2))
    if args.markdown_path:
        Path(args.markdown_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown_path).write_text(
            table + "\n\n```\n" + summary.get("explain", "") + "\n```\n"
        )


if __name__ == "__main__":
    main()
