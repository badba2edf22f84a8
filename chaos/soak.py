"""``make soak``: a long run at 80 % of measured capacity, watching for growth.

Usage::

    .venv/bin/python -m chaos.soak --minutes 30 --png docs/soak.png

1. Starts the platform (gunicorn 2×4 threads, a 2-process Celery worker, beat,
   smtpd, bounce MX) on the chaos suite's private PostgreSQL and Redis.
2. Measures capacity: ``--probe-clients`` closed-loop clients on ``POST /email``
   for ``--probe-seconds``; capacity is the lower of the accept rate and the
   delivery rate (messages the sink received per second) in that window.
3. Offers 80 % of it (``--load``) open-loop for ``--minutes``, sampling every
   ``--every`` seconds: resident memory per component (all its processes), the
   delivery queue (recipients queued or being sent, from PostgreSQL), the Redis
   broker's queue length, and the accept/deliver rates.
4. Writes the samples as CSV next to the PNG plot, and judges growth: memory of
   each component in the last fifth against the second fifth (after warm-up),
   and the queue in the last fifth against the offered rate.

Exit status 1 if memory grew more than ``--max-growth`` or the queue kept growing.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

from .platform import Platform
from .run import Ledger, Load, Suite, settle


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def queue_depth(url: str, server_id: int) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(
            "SELECT count(*) FROM mail_recipient WHERE server_id = %s"
            " AND status IN ('queued', 'sending')",
            (server_id,),
        ).fetchone()[0]


def broker_depth(suite: Suite) -> int:
    import redis

    client = redis.Redis.from_url(suite.redis.url)
    return sum(
        int(client.llen(name))
        for name in client.scan_iter("celery*")
        if client.type(name) == b"list"
    )


def probe_capacity(suite: Suite, p: Platform, token: str, args) -> dict:
    load = Load(
        kind="http",
        platform=p,
        token=token,
        rate=10_000,
        clients=args.probe_clients,
        bounce_share=0,
    )
    before = suite.sink.accepted_total
    start = time.monotonic()
    load.start()
    time.sleep(args.probe_seconds)
    load.stop()
    took = time.monotonic() - start
    accept = len(load.tally.accepted) / took
    deliver = (suite.sink.accepted_total - before) / took
    # Let the probe's backlog drain before the soak starts.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and queue_depth(suite.pg.url, p.server_id):
        time.sleep(1)
    return {
        "accept_per_s": round(accept, 1),
        "deliver_per_s": round(deliver, 1),
        "capacity_per_s": round(min(accept, deliver), 1),
    }


def plot(samples: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s["t"] / 60 for s in samples]
    fig, (mem, queue, rate) = plt.subplots(3, 1, figsize=(10, 10), sharex=True)
    components = [k[4:] for k in samples[0] if k.startswith("rss_")]
    for name in components:
        mem.plot(minutes, [s[f"rss_{name}"] for s in samples], label=name)
    mem.set_ylabel("resident memory (MB)")
    mem.legend(loc="upper left", ncol=len(components))
    mem.set_ylim(bottom=0)
    queue.plot(minutes, [s["queue"] for s in samples], label="delivery queue (db)")
    queue.plot(minutes, [s["broker"] for s in samples], label="broker queue (redis)")
    queue.set_ylabel("messages waiting")
    queue.legend(loc="upper left")
    queue.set_ylim(bottom=0)
    rate.plot(minutes, [s["accept_rate"] for s in samples], label="accepted/s")
    rate.plot(minutes, [s["deliver_rate"] for s in samples], label="delivered/s")
    rate.set_ylabel("messages per second")
    rate.set_xlabel("minutes")
    rate.legend(loc="lower left")
    rate.set_ylim(bottom=0)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def judge(samples: list[dict], max_growth: float, rate: float) -> list[str]:
    fifth = max(1, len(samples) // 5)
    early, late = samples[fifth : 2 * fifth], samples[-fifth:]
    problems = []
    for key in [k for k in samples[0] if k.startswith("rss_")]:
        before = statistics.median(s[key] for s in early)
        after = statistics.median(s[key] for s in late)
        if before and (after - before) / before > max_growth:
            problems.append(f"{key[4:]} memory grew {before:.0f} → {after:.0f} MB")
    late_queue = statistics.median(s["queue"] for s in late)
    if late_queue > max(50, 5 * rate):  # more than ~5 s of traffic waiting
        problems.append(f"delivery queue stayed at {late_queue:.0f}")
    return problems


def main() -> int:
    # SIGTERM (CI's timeout, Ctrl-C's cousin) unwinds like Ctrl-C, so every
    # process and service this run started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--load", type=float, default=0.8)
    parser.add_argument("--every", type=float, default=10)
    parser.add_argument("--probe-clients", type=int, default=16)
    parser.add_argument("--probe-seconds", type=float, default=30)
    parser.add_argument("--max-growth", type=float, default=0.10)
    parser.add_argument("--png", default="docs/soak.png")
    args = parser.parse_args()
    args.rate, args.seconds = 0, 0  # Suite's chaos options, unused here
    png = Path(args.png)
    with Suite(args) as suite:
        suite.sink.reset()
        p = Platform(env=suite.env(archive="local"), name="soak")
        token = p.migrate_and_tenant()
        p.start()
        try:
            capacity = probe_capacity(suite, p, token, args)
            rate = round(capacity["capacity_per_s"] * args.load, 1)
            print(json.dumps({"probe": capacity, "soak_rate_per_s": rate}), flush=True)
            load = Load(
                kind="http",
                platform=p,
                token=token,
                rate=rate,
                clients=8,
                bounce_share=0.02,
            )
            samples: list[dict] = []
            stop = threading.Event()
            start = time.monotonic()
            load.start()
            last_acc, last_del, last_t = 0, suite.sink.accepted_total, start
            while time.monotonic() - start < args.minutes * 60:
                stop.wait(args.every)
                now = time.monotonic()
                accepted = len(load.tally.accepted)
                delivered = suite.sink.accepted_total
                sample = {
                    "t": round(now - start, 1),
                    "accept_rate": round((accepted - last_acc) / (now - last_t), 1),
                    "deliver_rate": round((delivered - last_del) / (now - last_t), 1),
                    "queue": queue_depth(suite.pg.url, p.server_id),
                    "broker": broker_depth(suite),
                }
                for name, pids in p.pids().items():
                    sample[f"rss_{name}"] = round(rss_mb(pids), 1)
                samples.append(sample)
                last_acc, last_del, last_t = accepted, delivered, now
                print(json.dumps(sample), flush=True)
            load.stop()
            ledger = Ledger(suite.pg.url, p.server_id)
            settle(
                accepted=load.tally.accepted,
                sink=suite.sink,
                ledger=ledger,
                timeout=180,
            )
            lost = len(
                load.tally.accepted - set(suite.sink.snapshot()) - set(ledger.bounces())
            )
        finally:
            p.stop()
    with open(png.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(samples[0]))
        writer.writeheader()
        writer.writerows(samples)
    title = (
        f"Soak: {args.minutes:g} min at {rate:g} msg/s "
        f"({args.load:.0%} of {capacity['capacity_per_s']:g} msg/s measured)"
    )
    plot(samples, png, title)
    problems = judge(samples, args.max_growth, rate)
    summary = {
        "accepted": len(load.tally.accepted),
        "lost_at_end": lost,
        "http_5xx": load.tally.http_5xx,
        "problems": problems,
    }
    print(json.dumps(summary))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
