#!/usr/bin/env python
"""Benchmark the send API: accepted messages per second, durable.

Starts the app under gunicorn on PostgreSQL (or targets a running one with
``--url`` and ``--token``), creates a tenant, then measures

* ``POST /email`` at a fixed concurrency (default 20): requests/s and p50/p99
  latency, and
* ``POST /email/batch`` with 500 messages per request: messages/s.

Every 200 counted here means the message row and its raw MIME were committed.
Each measurement is repeated (``--runs``, default 3) and the median reported;
the last line printed is a JSON summary.

The load generator is one asyncio process speaking HTTP/1.1 over keep-alive
sockets with no HTTP library, so it costs the server as little CPU as possible
on a small machine.

Usage::

    python bench/send_api.py                         # start gunicorn, defaults
    python bench/send_api.py --workers 3 --threads 4 --duration 15
    python bench/send_api.py --url http://127.0.0.1:8000 --token SERVER_TOKEN
    python bench/send_api.py --rate 300              # also /email paced at 300/s
    python bench/send_api.py --profile 300           # pyinstrument, in-process

Environment: ``DATABASE_URL`` (default: a dedicated ``postmark_bench``
database on 127.0.0.1, created and migrated if missing), ``CELERY_BROKER_URL``
(default: Redis DB 14 on 127.0.0.1), ``ARCHIVE_LOCAL_ROOT`` (default
``var/bench-archive``) or the ``ARCHIVE_S3_*`` variables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postmark_bench"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"


# --- environment and tenant ----------------------------------------------------------


def django_json(code: str, env: dict[str, str]) -> Any:
    """Run ``code`` in ``manage.py shell`` with ``env``; the JSON it printed last."""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = args.database_url
    env.setdefault("CELERY_BROKER_URL", DEFAULT_BROKER_URL)
    env.setdefault("ARCHIVE_LOCAL_ROOT", str(ROOT / "var" / "bench-archive"))
    env.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
    env.setdefault("LOG_LEVEL", "WARNING")
    env["DJANGO_SETTINGS_MODULE"] = "postmark_clone.settings"
    return env


def ensure_database(database_url: str) -> None:
    """Create the bench database if it does not exist (PostgreSQL only)."""
    import psycopg

    parsed = urllib.parse.urlparse(database_url)
    if not parsed.scheme.startswith("postgres"):
        return
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_tenant(env: dict[str, str]) -> tuple[str, str]:
    """Migrate and create a fresh tenant; returns (server token, sender address)."""
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    code = (
        "import json, uuid\n"
        "from accounts import services\n"
        "from accounts.models import Domain\n"
        "from messages.dkim import dkim_keypair_generate\n"
        "tag = uuid.uuid4().hex[:8]\n"
        "acct = services.account_create(name=f'bench-{tag}')\n"
        "srv = services.server_create(account=acct.obj, name=f'bench-{tag}')\n"
        "priv, pub = dkim_keypair_generate()\n"
        "Domain.objects.create(account=acct.obj, name=f'{tag}.bench.example.com',"
        " dkim_selector='bench', dkim_private_key=priv, dkim_public_key=pub)\n"
        "print(json.dumps({'token': srv.token,"
        " 'sender': f'Bench <bench@{tag}.bench.example.com>'}))\n"
    )
    data = django_json(code, env)
    return data["token"], data["sender"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(
    env: dict[str, str], workers: int, threads: int, worker_class: str = "gthread"
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "postmark_clone.wsgi",
            "-w",
            str(workers),
            "-k",
            worker_class,
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "--backlog",
            "512",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("gunicorn exited during start-up") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start within 30 s")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- a tiny keep-alive HTTP/1.1 client ------------------------------------------------


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(
                    self.host, self.port
                )
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
                f"X-Postmark-Server-Token: {token}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            try:
                self.writer.write(head + body)
                await self.writer.drain()
                return await self._response()
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length = 0
        close = False
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
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def message(sender: str, i: int) -> dict:
    return {
        "From": sender,
        "To": f"user{i}@example.org",
        "Subject": f"Benchmark message {i}",
        "TextBody": "Hello from the benchmark. " * 20,
        "HtmlBody": "<p>Hello from the <b>benchmark</b>.</p>" * 20,
        "Tag": "bench",
        "Metadata": {"i": str(i)},
    }


async def run_single(
    url: str,
    token: str,
    sender: str,
    concurrency: int,
    duration: float,
    rate: float | None = None,
) -> dict:
    """``concurrency`` clients, each sending its next request as soon as the
    previous answer arrived (closed loop), or, with ``rate``, on a fixed
    schedule that adds up to ``rate`` requests/s; paced latencies are measured
    from the scheduled time, so a slow answer also counts against the requests
    it delayed (no coordinated omission)."""
    parsed = urllib.parse.urlparse(url)
    body = json.dumps(message(sender, 0)).encode()
    latencies: list[float] = []
    errors: dict[int, int] = {}
    began = time.perf_counter()
    stop_at = began + duration

    async def worker(number: int) -> None:
        conn = Connection(parsed.hostname or "127.0.0.1", parsed.port or 80)
        due = began + (number / rate if rate else 0.0)
        try:
            while (due if rate else time.perf_counter()) < stop_at:
                if rate:
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                started = due if rate else time.perf_counter()
                status, _payload = await conn.request("/email", body, token)
                elapsed = time.perf_counter() - started
                if rate:
                    due += concurrency / rate
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors[status] = errors.get(status, 0) + 1
        finally:
            conn.close()

    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    wall = time.perf_counter() - began
    latencies.sort()
    return {
        "accepted": len(latencies),
        "seconds": round(wall, 3),
        "req_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
        "errors": errors,
    }


async def run_batch(
    url: str, token: str, sender: str, batch_size: int, batches: int, concurrency: int
) -> dict:
    parsed = urllib.parse.urlparse(url)
    body = json.dumps([message(sender, i) for i in range(batch_size)]).encode()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(batches):
        queue.put_nowait(n)
    accepted = 0
    failed = 0
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal accepted, failed
        conn = Connection(parsed.hostname or "127.0.0.1", parsed.port or 80)
        try:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                status, payload = await conn.request("/email/batch", body, token)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    failed += batch_size
                    continue
                for item in json.loads(payload):
                    if item.get("ErrorCode") == 0:
                        accepted += 1
                    else:
                        failed += 1
        finally:
            conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - began
    return {
        "accepted": accepted,
        "failed": failed,
        "seconds": round(wall, 3),
        "msg_per_s": round(accepted / wall, 1),
        "batch_p50_ms": round(statistics.median(latencies) * 1000, 1),
    }


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


def median_of(runs: list[dict], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 1)


# --- profiling ------------------------------------------------------------------------


def profile(env: dict[str, str], token: str, sender: str, requests: int) -> None:
    """Profile the send path in-process (Django test client, no HTTP server)."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    client = Client()
    single = json.dumps(message(sender, 0))
    batch = json.dumps([message(sender, i) for i in range(500)])
    headers = {"HTTP_X_POSTMARK_SERVER_TOKEN": token, "HTTP_ACCEPT": "application/json"}
    for _ in range(20):  # warm caches and connections
        client.post("/email", single, content_type="application/json", **headers)
    out = ROOT / "var"
    out.mkdir(exist_ok=True)
    for name, path, body, count in (
        ("email", "/email", single, requests),
        ("batch", "/email/batch", batch, max(1, requests // 100)),
    ):
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(count):
            response = client.post(
                path, body, content_type="application/json", **headers
            )
            assert response.status_code == 200, response.content[:300]
        profiler.stop()
        report = out / f"profile-send-{name}.txt"
        report.write_text(profiler.output_text(unicode=False, show_all=False))
        print(f"profile of {count} x {path} written to {report}", file=sys.stderr)


# --- main -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="target a running server instead of gunicorn")
    parser.add_argument("--token", help="server token (required with --url)")
    parser.add_argument("--sender", help="From address (with --url)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=6, help="threads per worker")
    parser.add_argument(
        "--worker-class", default="gthread", help="gunicorn worker class (-k)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0, help="s per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="s before runs")
    parser.add_argument(
        "--rate",
        type=float,
        help="also run /email paced at this many requests/s (same concurrency)",
    )
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batches", type=int, default=40, help="batches per run")
    parser.add_argument("--batch-concurrency", type=int, default=2)
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        help="instead of benchmarking, profile N /email requests in-process",
    )
    args = parser.parse_args()

    env = bench_env(args)
    proc = None
    if args.url:
        if not (args.token and args.sender):
            parser.error("--url needs --token and --sender")
        url, token, sender = args.url, args.token, args.sender
    else:
        ensure_database(args.database_url)
        token, sender = setup_tenant(env)
        if args.profile:
            profile(env, token, sender, args.profile)
            return
        proc, url = start_gunicorn(env, args.workers, args.threads, args.worker_class)
    try:
        asyncio.run(run_single(url, token, sender, args.concurrency, args.warmup))
        singles = [
            asyncio.run(run_single(url, token, sender, args.concurrency, args.duration))
            for _ in range(args.runs)
        ]
        paced = [
            asyncio.run(
                run_single(
                    url, token, sender, args.concurrency, args.duration, args.rate
                )
            )
            for _ in range(args.runs if args.rate else 0)
        ]
        batches = [
            asyncio.run(
                run_batch(
                    url,
                    token,
                    sender,
                    args.batch_size,
                    args.batches,
                    args.batch_concurrency,
                )
            )
            for _ in range(args.runs)
        ]
    finally:
        if proc is not None:
            stop(proc)
    summary = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "server": (
            {
                "gunicorn_workers": args.workers,
                "threads": args.threads,
                "worker_class": args.worker_class,
            }
            if proc is not None
            else {"url": url}
        ),
        "email": {
            "concurrency": args.concurrency,
            "runs": singles,
            "median_req_per_s": median_of(singles, "req_per_s"),
            "median_p50_ms": median_of(singles, "p50_ms"),
            "median_p99_ms": median_of(singles, "p99_ms"),
        },
        **(
            {
                "email_paced": {
                    "concurrency": args.concurrency,
                    "rate": args.rate,
                    "runs": paced,
                    "median_req_per_s": median_of(paced, "req_per_s"),
                    "median_p50_ms": median_of(paced, "p50_ms"),
                    "median_p99_ms": median_of(paced, "p99_ms"),
                }
            }
            if paced
            else {}
        ),
        "batch": {
            "batch_size": args.batch_size,
            "batches_per_run": args.batches,
            "concurrency": args.batch_concurrency,
            "runs": batches,
            "median_msg_per_s": median_of(batches, "msg_per_s"),
        },
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
