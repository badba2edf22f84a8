"""Delivery benchmark: API → workers → sink on loopback, and a Postfix reference.

Usage (from the repository root, PostgreSQL and Redis running)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/14 REDIS_URL=redis://127.0.0.1:6379/14 \\
    .venv/bin/python bench/deliver.py all --messages 20000 --rate 200 --seconds 30 --runs 3

Modes:

* ``throughput``: submit ``--messages`` 2 KB messages through ``POST /email/batch``
  (``--batch`` per request, ``--clients`` concurrent clients), DKIM on, and time
  from the first request until the database records every recipient delivered
  to the sink (``manage.py sink --keep none``).
* ``latency``: ``POST /email`` at a steady ``--rate`` msg/s for ``--seconds``;
  accept → delivered per message from the database (``finished_at`` minus
  ``received_at``, i.e. recorded after the remote 250), p50/p99.
* ``drain``: delivery alone: submit with no worker running, then start
  ``--worker-procs`` workers and time first → last delivery (database).
* ``postfix``: a throwaway Postfix (config and queue under /tmp) relaying
  ``smtp-source`` → postfix → ``smtp-sink``, ``--sessions`` parallel sessions,
  2 KB messages; time until smtp-sink has counted every message.
* ``dkim``: signing rate on one core, dkimpy alone vs our ``cryptography`` RSA step.
* ``all``: dkim, postfix, throughput, latency, then the ratio ours/Postfix.

Each mode runs ``--runs`` times and reports the median; the JSON summary is
printed on the last line. The stack (gunicorn ``--web-workers``, Celery
``--worker-procs`` prefork, the sink) is started and stopped by the script.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import postfix_ref  # bench/ is this script's own folder
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postmark_clone.settings")
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


class Stack:
    """gunicorn + Celery workers + sink, as subprocesses in their own groups."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.procs: list[subprocess.Popen] = []
        self.web_port = free_port()
        self.sink_port = free_port()
        self.env = {
            **os.environ,
            "SENDER_POOL": f"smtp://127.0.0.1:{self.sink_port}?tls=none",
            "LOG_LEVEL": "WARNING",
            "DELIVERY_BATCH_SIZE": str(args.delivery_batch),
        }

    def spawn(self, cmd: list[str]) -> None:
        log = open(
            ROOT / "var" / f"bench-{Path(cmd[2]).name}-{len(self.procs)}.log", "w"
        )  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def __enter__(self) -> Stack:
        (ROOT / "var").mkdir(exist_ok=True)
        if self.args.sink == "smtp-sink":
            # Postfix's C sink, as in the Postfix reference run: the comparison
            # then measures the two MTAs, not two sinks.
            self.spawn(
                [
                    "/usr/sbin/smtp-sink",
                    "-u",
                    "postfix",
                    f"127.0.0.1:{self.sink_port}",
                    "256",
                ]
            )
        else:
            self.spawn(
                [
                    PY,
                    "manage.py",
                    "sink",
                    "--keep",
                    "none",
                    "--port",
                    str(self.sink_port),
                ]
            )
        self.spawn(
            [
                PY,
                "-m",
                "gunicorn",
                "postmark_clone.wsgi",
                "-w",
                str(self.args.web_workers),
                "-b",
                f"127.0.0.1:{self.web_port}",
                "--log-level",
                "warning",
            ]
        )
        if self.args.mode != "drain":
            self.start_worker()
        wait_port(self.sink_port)
        wait_port(self.web_port)
        return self

    def start_worker(self) -> None:
        self.spawn(
            [
                PY,
                "-m",
                "celery",
                "-A",
                "postmark_clone",
                "worker",
                "--pool=prefork",
                f"--concurrency={self.args.worker_procs}",
                "--loglevel=WARNING",
                "--without-mingle",
                "--without-gossip",
                "--prefetch-multiplier=1",
            ]
        )
        time.sleep(3)  # worker boot

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def setup_tenant() -> str:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Account
    from tests.factories import make_tenant

    Account.objects.filter(name="bench").delete()
    return make_tenant("bench", domain="bench.example.com").server_token


def reset_queue() -> None:
    from django.db import connection

    from messages.models import Message

    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(
                "TRUNCATE mail_messageevent, mail_recipient, mail_message CASCADE"
            )
    else:
        Message.objects.all().delete()
    import redis
    from django.conf import settings

    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(
            *[
                k
                for k in redis.Redis.from_url(settings.REDIS_URL).scan_iter(
                    "pmc:route:*"
                )
            ]
            or ["-"]
        )


def delivered_count() -> int:
    from messages.models import Recipient

    return Recipient.objects.filter(status=Recipient.Status.DELIVERED).count()


def body(i: int) -> dict:
    # ~2 KB of MIME once composed (headers + 1.7 KB text).
    return {
        "From": "Bench <sender@bench.example.com>",
        "To": f"user{i}@example.org",
        "Subject": f"Benchmark message {i}",
        "TextBody": ("The quick brown fox jumps over the lazy dog. " * 38)[:1700],
        "MessageStream": "outbound",
    }


def wait_delivered(total: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if delivered_count() >= total:
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"only {delivered_count()}/{total} delivered after {timeout}s")


def run_throughput(stack: Stack, token: str, args: argparse.Namespace) -> dict:
    reset_queue()
    url = f"http://127.0.0.1:{stack.web_port}/email/batch"
    headers = {"X-Postmark-Server-Token": token, "Content-Type": "application/json"}
    chunks = [
        [body(i) for i in range(start, min(start + args.batch, args.messages))]
        for start in range(0, args.messages, args.batch)
    ]
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                if not chunks:
                    return
                chunk = chunks.pop()
            response = session.post(
                url, data=json.dumps(chunk), headers=headers, timeout=120
            )
            response.raise_for_status()

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = time.monotonic()
    done = wait_delivered(args.messages, timeout=max(120, args.messages / 20))
    return {
        "messages": args.messages,
        "accept_seconds": round(accepted - started, 3),
        "accept_rate": round(args.messages / (accepted - started), 1),
        "end_to_end_seconds": round(done - started, 3),
        "end_to_end_rate": round(args.messages / (done - started), 1),
    }


def run_drain(stack: Stack, token: str, args: argparse.Namespace) -> dict:
    """Delivery alone: submit with no worker running, then start the workers
    and measure first → last delivery from the database."""
    reset_queue()
    url = f"http://127.0.0.1:{stack.web_port}/email/batch"
    headers = {"X-Postmark-Server-Token": token, "Content-Type": "application/json"}
    session = requests.Session()
    for start in range(0, args.messages, args.batch):
        chunk = [body(i) for i in range(start, min(start + args.batch, args.messages))]
        session.post(
            url, data=json.dumps(chunk), headers=headers, timeout=120
        ).raise_for_status()
    stack.start_worker()
    wait_delivered(args.messages, timeout=max(120, args.messages / 20))
    from django.db.models import Max, Min

    from messages.models import Recipient

    span = Recipient.objects.aggregate(
        first=Min("finished_at"), last=Max("finished_at")
    )
    seconds = (span["last"] - span["first"]).total_seconds()
    worker = stack.procs.pop()
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=30)
    return {
        "messages": args.messages,
        "delivery_seconds": round(seconds, 3),
        "delivery_rate": round(args.messages / seconds, 1),
    }


def run_latency(stack: Stack, token: str, args: argparse.Namespace) -> dict:
    reset_queue()
    # --latency-batch 1: one POST /email per message; N > 1: POST /email/batch
    # of N messages every N/rate seconds (the same steady message rate).
    per = args.latency_batch
    url = f"http://127.0.0.1:{stack.web_port}/email" + ("/batch" if per > 1 else "")
    headers = {"X-Postmark-Server-Token": token, "Content-Type": "application/json"}
    total = int(args.rate * args.seconds) // per * per
    interval = per / args.rate
    start = time.monotonic() + 0.5
    late = 0
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total // per))

    def client() -> None:
        nonlocal late, errors
        session = requests.Session()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            due = start + i * interval  # open loop: a fixed schedule
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.05:
                late += 1
            payload = body(i) if per == 1 else [body(i * per + k) for k in range(per)]
            response = session.post(
                url, data=json.dumps(payload), headers=headers, timeout=30
            )
            if response.status_code != 200:
                errors += 1

    threads = [threading.Thread(target=client) for _ in range(args.clients * 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent_seconds = time.monotonic() - start
    wait_delivered(total, timeout=120)
    from messages.models import Recipient

    rows = Recipient.objects.filter(status="delivered").values_list(
        "finished_at", "message__received_at"
    )
    latencies = sorted((f - r).total_seconds() for f, r in rows)
    q = statistics.quantiles(latencies, n=100)
    return {
        "rate": args.rate,
        "messages": total,
        "late_sends": late,
        # Below --rate when the API could not keep up (late_sends > 0).
        "achieved_rate": round(total / sent_seconds, 1),
        "errors": errors,
        "p50_ms": round(q[49] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


def run_postfix(args: argparse.Namespace) -> dict:
    """The same load through a throwaway Postfix (bench/postfix_ref.py) relaying
    to ``smtp-sink``: ``smtp-source`` → Postfix → sink."""
    if not postfix_ref.installed() or not Path("/usr/sbin/smtp-source").exists():
        return {"error": "postfix / smtp-source / smtp-sink not installed"}
    sink_port, smtpd_port = free_port(), free_port()
    relay = (
        f"relayhost = [127.0.0.1]:{sink_port}\n"
        f"smtp_destination_concurrency_limit = {args.sessions}\n"
        f"default_destination_concurrency_limit = {args.sessions}\n"
        "smtp_tls_security_level = none\n"
    )
    sink = subprocess.Popen(
        ["/usr/sbin/smtp-sink", "-u", "postfix", "-c", f"127.0.0.1:{sink_port}", "256"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_port(sink_port)
        with postfix_ref.Postfix(smtpd_port, relay):
            counts: list[int] = [0]

            def read_sink() -> None:
                # smtp-sink -c prints a running count, separated by carriage returns.
                assert sink.stdout is not None
                buf = b""
                while True:
                    chunk = sink.stdout.read1(4096)
                    if not chunk:
                        return
                    buf = (buf + chunk)[-64:]
                    numbers = re.findall(rb"\d+", buf)
                    if numbers:
                        counts[0] = int(numbers[-1])

            threading.Thread(target=read_sink, daemon=True).start()
            started = time.monotonic()
            subprocess.run(
                [
                    "/usr/sbin/smtp-source",
                    "-c",
                    "-l",
                    "2048",
                    "-m",
                    str(args.messages),
                    "-s",
                    str(args.sessions),
                    "-f",
                    "sender@bench.example.com",
                    "-t",
                    "user@example.org",
                    f"127.0.0.1:{smtpd_port}",
                ],
                check=True,
                capture_output=True,
            )
            accepted = time.monotonic()
            deadline = time.monotonic() + max(120, args.messages / 20)
            while counts[0] < args.messages and time.monotonic() < deadline:
                time.sleep(0.02)
            done = time.monotonic()
        return {
            "messages": args.messages,
            "delivered": counts[0],
            "accept_rate": round(args.messages / (accepted - started), 1),
            "end_to_end_seconds": round(done - started, 3),
            "end_to_end_rate": round(counts[0] / (done - started), 1),
        }
    finally:
        try:
            os.killpg(sink.pid, signal.SIGTERM)
            sink.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(sink.pid, signal.SIGKILL)


def run_dkim(args: argparse.Namespace) -> dict:
    """Signing rate on one core: dkimpy alone vs dkimpy + ``cryptography`` RSA."""
    from messages.dkim import (
        dkim_keypair_generate,
        dkim_sign,
        dkim_sign_reference,
        dkim_verify,
    )

    private_pem, public = dkim_keypair_generate()
    text = ("The quick brown fox jumps over the lazy dog. " * 38)[:1700]
    message = (
        "From: Bench <sender@bench.example.com>\r\nTo: user@example.org\r\n"
        "Subject: Benchmark\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
        "Message-ID: <1@bench.example.com>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    ).encode()
    out = {}
    for fn in (dkim_sign, dkim_sign_reference):
        signed = fn(
            message=message,
            domain="bench.example.com",
            selector="s",
            private_pem=private_pem,
        )
        assert dkim_verify(message=signed, txt_lookup=lambda _n: f"k=rsa; p={public}")
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < 3:
            fn(
                message=message,
                domain="bench.example.com",
                selector="s",
                private_pem=private_pem,
            )
            n += 1
        out[fn.__name__ + "_per_second"] = round(n / (time.perf_counter() - started), 1)
    return out


def median_of(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results if key in r)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "mode", choices=["throughput", "latency", "postfix", "drain", "dkim", "all"]
    )
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument(
        "--batch", type=int, default=500, help="messages per /email/batch"
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--sessions", type=int, default=20, help="Postfix: parallel sessions"
    )
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-procs", type=int, default=2)
    parser.add_argument(
        "--sink",
        choices=["smtp-sink", "ours"],
        default="smtp-sink" if Path("/usr/sbin/smtp-sink").exists() else "ours",
        help="receiver for our stack: Postfix's smtp-sink (default) or manage.py sink",
    )
    parser.add_argument(
        "--latency-batch", type=int, default=1, help="latency: messages per request"
    )
    parser.add_argument("--delivery-batch", type=int, default=100)
    args = parser.parse_args()

    summary: dict = {"args": vars(args)}
    if args.mode in ("postfix", "all"):
        runs = [run_postfix(args) for _ in range(args.runs)]
        summary["postfix"] = {
            "runs": runs,
            "median_rate": median_of(runs, "end_to_end_rate"),
        }
        print("postfix", json.dumps(summary["postfix"]), flush=True)
    if args.mode in ("dkim", "all"):
        import django

        django.setup()
        runs = [run_dkim(args) for _ in range(args.runs)]
        summary["dkim"] = {
            "runs": runs,
            "median_cryptography": median_of(runs, "dkim_sign_per_second"),
            "median_dkimpy": median_of(runs, "dkim_sign_reference_per_second"),
        }
        print("dkim", json.dumps(summary["dkim"]), flush=True)
    if args.mode == "drain":
        token = setup_tenant()
        with Stack(args) as stack:
            runs = [run_drain(stack, token, args) for _ in range(args.runs)]
        summary["drain"] = {
            "runs": runs,
            "median_rate": median_of(runs, "delivery_rate"),
        }
        print("drain", json.dumps(summary["drain"]), flush=True)
    if args.mode in ("throughput", "latency", "all"):
        token = setup_tenant()
        with Stack(args) as stack:
            if args.mode in ("throughput", "all"):
                runs = [run_throughput(stack, token, args) for _ in range(args.runs)]
                summary["throughput"] = {
                    "runs": runs,
                    "median_rate": median_of(runs, "end_to_end_rate"),
                }
                print("throughput", json.dumps(summary["throughput"]), flush=True)
            if args.mode in ("latency", "all"):
                runs = [run_latency(stack, token, args) for _ in range(args.runs)]
                summary["latency"] = {
                    "runs": runs,
                    "median_p50_ms": median_of(runs, "p50_ms"),
                    "median_p99_ms": median_of(runs, "p99_ms"),
                }
                print("latency", json.dumps(summary["latency"]), flush=True)
    if (
        "throughput" in summary
        and "postfix" in summary
        and summary["postfix"]["median_rate"]
    ):
        summary["ratio_to_postfix"] = round(
            summary["throughput"]["median_rate"] / summary["postfix"]["median_rate"], 3
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
