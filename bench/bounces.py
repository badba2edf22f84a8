"""Bounce-path benchmark: classification accuracy on the labelled corpus and,
with ``--perf``, performance (parsing, the send-path suppression check, the
bounce list, bounce_record).

Usage (from the repository root)::

    python bench/bounces.py                       # accuracy on the corpus
    python bench/bounces.py --misses              # ... and list every miss
    python bench/bounces.py --perf                # performance, defaults below
    python bench/bounces.py --perf --suppressions 100000 --bounces 200000 --runs 5
    python bench/bounces.py --perf --db postgres://postgres@127.0.0.1:5432/bench_bounces \\
        --json var/bench/bounces.json

Accuracy (no database) over ``tests/fixtures/bounces/corpus/*/expected.json``
(``bounces.engine.evaluate``): *recipient found* (every expected recipient is
among the engine's failed recipients), *suppress agrees* (over all files;
non-bounces count as "no suppress"), *type agrees* (over all files; "not a
bounce" counts as a type), crashes, files and distinct MTAs, and a per-source
and per-MTA breakdown of misses.

Performance (``--perf``, PostgreSQL running) measures, each as the **median over
``--runs`` runs**:

- ``parse_per_s``: ``bounces.engine.analyse`` (parse + classify) over every
  ``tests/fixtures/bounces/*.eml`` sample (reports per second, one core);
- ``inactive_lookup_ms``: ``bounces.selectors.inactive_recipients`` for a full
  batch (500 messages × 50 recipients = 25 000 addresses, 1 % of them
  suppressed) on a server with ``--suppressions`` rows — the query the send
  path runs once per stream per batch;
- ``bounce_list_ms``: ``bounces.selectors.bounce_list`` (count + newest page of
  50, what ``GET /bounces`` runs) on a server with ``--bounces`` rows, with no
  filter and with ``type=HardBounce``;
- ``bounce_record_ms``: one ``bounce_record`` call (hard bounce with suppression,
  event, stats and webhook hooks; local archive) averaged over ``--records``.

It uses a dedicated database (created and migrated when missing; default
``bench_bounces``), seeds it once (rows are reused by later runs) and prints a
JSON summary (also written with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/bench_bounces"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suppressions", type=int, default=50_000)
    parser.add_argument("--bounces", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--parse-rounds", type=int, default=20)
    parser.add_argument("--json", dest="json_path", default="")
    parser.add_argument(
        "--perf", action="store_true", help="run the performance measurements"
    )
    parser.add_argument("--misses", action="store_true", help="list every miss")
    parser.add_argument(
        "--corpus",
        default="",
        help="another labelled folder, e.g. tests/fixtures/bounces/holdout "
        "(held out: never used to tune the rules)",
    )
    return parser.parse_args()


def accuracy(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from bounces.engine.evaluate import evaluate

    root = Path(args.corpus).resolve() if args.corpus else None
    report = evaluate(root) if root else evaluate()
    summary = report.summary()
    print(f"Bounce classification accuracy on {root or 'the corpus'}")
    print(
        f"  files {summary['files']}, distinct MTAs/providers "
        f"{summary['distinct_mtas']}, crashes {summary['crashes']}"
    )
    print(f"  recipient found  {summary['recipient_found_pct']:5.1f} %  (target >= 97)")
    print(f"  suppress agrees  {summary['suppress_agrees_pct']:5.1f} %  (target >= 97)")
    print(f"  type agrees      {summary['type_agrees_pct']:5.1f} %  (target >= 93)")
    for key, title in (("source", "per source"), ("mta", "per MTA (misses only)")):
        print(f"\n{title}: files / recipient miss / suppress miss / type miss")
        for name, row in report.breakdown(key).items():
            misses = row["recipient_miss"] + row["suppress_miss"] + row["type_miss"]
            if key == "mta" and not misses:
                continue
            print(
                f"  {name[:48]:48} {row['files']:4} {row['recipient_miss']:4}"
                f" {row['suppress_miss']:4} {row['type_miss']:4}"
            )
    if args.misses:
        print("\nmisses:")
        for o in report.outcomes:
            if o.recipient_ok is False or not o.suppress_ok or not o.type_ok:
                want = o.expected
                got = o.got
                print(
                    f"  {o.source}/{o.name} [{o.mta}] want "
                    f"{want.get('reason') if want.get('bounce') else 'not a bounce'}"
                    f"/{want.get('type')} {want.get('recipients')} got "
                    f"{got.get('Reason') if got.get('Bounce') else 'not a bounce'}"
                    f"/{got.get('Type')} {got.get('Recipients')}"
                    + (f" CRASH {o.crashed}" if o.crashed else "")
                )
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(summary, indent=2))


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postmark_clone.settings")
    os.environ.setdefault("ARCHIVE_LOCAL_ROOT", str(ROOT / "var" / "bench-archive"))
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def timed(func, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        func()
    return (time.perf_counter() - start) / repeat


def bench_parse(rounds: int) -> float:
    from bounces.engine import analyse

    samples = [p.read_bytes() for p in (ROOT / "tests/fixtures/bounces").glob("*.eml")]

    def work() -> None:
        for raw in samples:
            analyse(raw)

    seconds = timed(work, rounds)
    return len(samples) / seconds


def bench_record(server, records: int) -> float:
    """Seconds per ``bounce_record`` call (a new address each time)."""
    from bounces.services import bounce_record

    prefix = f"rec{time.time_ns()}"
    start = time.perf_counter()
    for i in range(records):
        bounce_record(
            server=server,
            message=None,
            email=f"{prefix}-{i}@bench.example",
            bounce_type="HardBounce",
            raw_report=b"Subject: bench\r\n\r\nreport",
            origin="bench",
        )
    return (time.perf_counter() - start) / records


def seed(server, *, suppressions: int, bounces: int) -> None:
    from django.utils import timezone

    from bounces.models import Bounce, Suppression

    have = Suppression.objects.filter(server=server).count()
    rows = [
        Suppression(
            server=server,
            message_stream="outbound",
            email=f"s{i}@bench.example",
            reason="HardBounce",
            origin="Recipient",
        )
        for i in range(have, suppressions)
    ]
    Suppression.objects.bulk_create(rows, batch_size=5000)
    have = Bounce.objects.filter(server=server).count()
    now = timezone.now()
    types = ["HardBounce", "SoftBounce", "Transient", "Blocked"]
    Bounce.objects.bulk_create(
        [
            Bounce(
                server=server,
                type=types[i % 4],
                type_code={"HardBounce": 1, "SoftBounce": 4096, "Transient": 2}.get(
                    types[i % 4], 100006
                ),
                email=f"b{i}@bench.example",
                bounced_at=now - timezone.timedelta(seconds=i),
            )
            for i in range(have, bounces)
        ],
        batch_size=5000,
    )


def main() -> None:
    args = parse_args()
    if not args.perf:
        accuracy(args)
        return
    ensure_database(args.db)
    setup_django(args.db)
    from accounts import services as accounts
    from accounts.models import Server
    from bounces.selectors import BounceFilters, bounce_list, inactive_recipients

    server = Server.objects.filter(name="bench bounces").first()
    if server is None:
        account = accounts.account_create(name="bench bounces").obj
        server = accounts.server_create(account=account, name="bench bounces").obj
    seed(server, suppressions=args.suppressions, bounces=args.bounces)

    batch = [f"s{i * 100}@bench.example" for i in range(250)] + [
        f"fresh{i}@bench.example" for i in range(24_750)
    ]
    results: dict[str, list[float]] = {
        "parse_per_s": [],
        "inactive_lookup_ms": [],
        "bounce_list_ms": [],
        "bounce_list_type_ms": [],
        "bounce_record_ms": [],
    }
    for _run in range(args.runs):
        results["parse_per_s"].append(bench_parse(args.parse_rounds))
        results["inactive_lookup_ms"].append(
            1000
            * timed(
                lambda: inactive_recipients(
                    server=server, message_stream="outbound", emails=batch
                ),
                5,
            )
        )
        results["bounce_list_ms"].append(
            1000
            * timed(
                lambda: bounce_list(
                    server=server, filters=BounceFilters(), count=50, offset=0
                ),
                10,
            )
        )
        results["bounce_list_type_ms"].append(
            1000
            * timed(
                lambda: bounce_list(
                    server=server,
                    filters=BounceFilters(type="HardBounce"),
                    count=50,
                    offset=0,
                ),
                10,
            )
        )
        seconds = bench_record(server, args.records)
        results["bounce_record_ms"].append(1000 * seconds)
    summary = {
        "area": "bounces",
        "machine": f"{platform.node()} ({os.cpu_count()} cpus), noisy shared machine",
        "runs": args.runs,
        "suppressions": args.suppressions,
        "bounces": args.bounces,
        "median": {k: round(statistics.median(v), 2) for k, v in results.items()},
        "all_runs": {k: [round(x, 2) for x in v] for k, v in results.items()},
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(text)


if __name__ == "__main__":
    main()
