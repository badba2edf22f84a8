#!/usr/bin/env python
"""Benchmark the tracking endpoints: ``GET /t/o/<token>`` (open pixel) and
``GET /t/c/<token>`` (click redirect), requests per second.

Starts the app under gunicorn on PostgreSQL exactly as ``bench/send_api.py``
does (same workers/threads defaults), creates a tenant and one tracked message,
and runs a real Celery worker that drains the hit buffer into PostgreSQL while
the load runs (``--no-drain`` leaves it out). Each endpoint is measured with
``--concurrency`` keep-alive clients for ``--duration`` seconds, ``--runs``
times, and the median reported. Afterwards it waits for the buffer to empty and
checks that every answered hit was recorded (the ``Opens`` and ``Clicks``
counters equal the 200s and 302s): nothing answered is lost.

Usage::

    python bench/tracking.py
    python bench/tracking.py --workers 2 --threads 8 --duration 10
    python bench/tracking.py --profile 3000     # pyinstrument, in-process

Environment: as ``bench/send_api.py`` (``DATABASE_URL`` defaults to the
``postmark_bench`` database, ``CELERY_BROKER_URL`` to Redis DB 14); the hit
buffer uses ``REDIS_URL`` (default: the broker's Redis database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from send_api import (  # noqa: E402 (bench/ is not a package)
    ROOT,
    _percentile,
    bench_env,
    django_json,
    ensure_database,
    setup_tenant,
    start_gunicorn,
    stop,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postmark_bench"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)


def make_tokens(env: dict[str, str], sender: str) -> dict[str, object]:
    """Send one tracked message and return its recipient's pixel and link paths."""
    code = (
        "import json\n"
        "from accounts.models import Server\n"
        "from messages.email import OutboundEmail\n"
        "from messages.models import Message\n"
        "from messages.services import message_send\n"
        "from tracking.rewrite import click_url, open_url\n"
        "from urllib.parse import urlsplit\n"
        "server = Server.objects.latest('id')  # the tenant setup_tenant made\n"
        "r = message_send(server=server, email=OutboundEmail("
        f"from_header={sender!r}, to='reader@example.org', subject='bench',"
        " html_body='<a href=\"https://shop.example.com/\">x</a>',"
        " track_opens=True, track_links='HtmlOnly'))\n"
        "row = Message.objects.get(message_id=r.message_id).recipients.get()\n"
        "print(json.dumps({'server': server.id,"
        " 'open': urlsplit(open_url(row.id)).path,"
        " 'click': urlsplit(click_url(row.id, 'https://shop.example.com/p?i=1')).path}))\n"
    )
    return django_json(code, env)


def counters(env: dict[str, str], server_id: int) -> dict[str, int]:
    code = (
        "import json\n"
        "from django.db.models import Sum\n"
        "from bounces.models import DailyStat\n"
        "from tracking.buffer import hits_pending\n"
        f"qs = DailyStat.objects.filter(server_id={server_id}, tag_key='')\n"
        "out = {n: qs.filter(name=n).aggregate(s=Sum('value'))['s'] or 0"
        " for n in ('Opens', 'Clicks')}\n"
        "out['pending'] = hits_pending()\n"
        "print(json.dumps(out))\n"
    )
    return django_json(code, env)


class Connection:
    """A keep-alive HTTP/1.1 GET client with no HTTP library (cheap for the
    load generator on a small machine)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.host, self.port
            )
        self.writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"User-Agent: {IPHONE}\r\n\r\n"
            ).encode()
        )
        await self.writer.drain()
        assert self.reader is not None
        status = int((await self.reader.readuntil(b"\r\n")).split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def run(url: str, path: str, concurrency: int, duration: float) -> dict:
    parsed = urllib.parse.urlparse(url)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    began = time.perf_counter()
    stop_at = began + duration

    async def client() -> None:
        conn = Connection(parsed.hostname or "127.0.0.1", parsed.port or 80)
        try:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    status = await conn.get(path)
                except (ConnectionError, asyncio.IncompleteReadError):
                    conn.close()
                    statuses[0] = statuses.get(0, 0) + 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": round(wall, 3),
        "req_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 2),
        "statuses": statuses,
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "postmark_clone",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def profile(env: dict[str, str], paths: dict[str, object], requests: int) -> None:
    """Profile both endpoints in-process (Django test client, no HTTP server)."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    client = Client()
    out = ROOT / "var"
    out.mkdir(exist_ok=True)
    for name in ("open", "click"):
        path = str(paths[name])
        for _ in range(50):
            client.get(path, HTTP_USER_AGENT=IPHONE)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(requests):
            client.get(path, HTTP_USER_AGENT=IPHONE)
        profiler.stop()
        report = out / f"profile-tracking-{name}.txt"
        report.write_text(profiler.output_text(unicode=False, show_all=False))
        print(f"profile of {requests} x {name} written to {report}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=6, help="threads per worker")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0, help="s per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--no-drain", action="store_true", help="no Celery worker")
    parser.add_argument("--profile", type=int, metavar="N")
    args = parser.parse_args()

    env = bench_env(args)
    env.setdefault("REDIS_URL", env["CELERY_BROKER_URL"])
    ensure_database(args.database_url)
    _token, sender = setup_tenant(env)
    paths = make_tokens(env, sender)
    if args.profile:
        profile(env, paths, args.profile)
        return
    before = counters(env, int(paths["server"]))  # type: ignore[arg-type]
    worker = None if args.no_drain else start_worker(env)
    proc, url = start_gunicorn(env, args.workers, args.threads, args.worker_class)
    results: dict[str, list[dict]] = {}
    warmups: dict[str, dict] = {}
    try:
        for name in ("open", "click"):
            path = str(paths[name])
            warmups[name] = asyncio.run(run(url, path, args.concurrency, args.warmup))
            results[name] = [
                asyncio.run(run(url, path, args.concurrency, args.duration))
                for _ in range(args.runs)
            ]
    finally:
        stop(proc)
    # Every answered hit, warm-up included, must end up recorded.
    answered = {
        name: sum(
            r["statuses"].get(200 if name == "open" else 302, 0)
            for r in [*runs, warmups[name]]
        )
        for name, runs in results.items()
    }
    recorded: dict[str, int] = {}
    if worker is not None:
        deadline = time.monotonic() + 300
        while True:
            now = counters(env, int(paths["server"]))  # type: ignore[arg-type]
            if now["pending"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        stop(worker)
        recorded = {
            "open": now["Opens"] - before["Opens"],
            "click": now["Clicks"] - before["Clicks"],
            "pending": now["pending"],
        }
    summary = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "gunicorn": {
            "workers": args.workers,
            "threads": args.threads,
            "class": args.worker_class,
        },
        "concurrency": args.concurrency,
        "drain_worker": worker is not None,
        "runs": results,
        "median_req_per_s": {
            name: statistics.median(r["req_per_s"] for r in runs)
            for name, runs in results.items()
        },
        "median_p99_ms": {
            name: statistics.median(r["p99_ms"] for r in runs)
            for name, runs in results.items()
        },
        "answered_incl_warmup": answered,
        "recorded": recorded,
        "lost": {k: answered[k] - recorded[k] for k in answered if k in recorded},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
