"""``make chaos``: kill, cut and flood the platform while it takes mail, then
check that every acknowledged message was delivered or bounced.

Usage (from the repository root; root is needed for the tmpfs of the disk-full
fault, PostgreSQL's binaries and redis-server must be installed)::

    .venv/bin/python -m chaos.run                 # every fault
    .venv/bin/python -m chaos.run web_kill9 redis_down_60s --rate 40

For each fault a fresh platform (gunicorn, Celery worker and beat, smtpd, bounce
MX) starts on private PostgreSQL/Redis/moto instances, load runs for
``--seconds``, the fault is injected three seconds in and healed, and the suite
waits until nothing is left in flight. It prints one row per fault:

- accepted: messages acknowledged to the client (HTTP 200 / SMTP 250);
- delivered: distinct messages the remote sink accepted; bounced: distinct
  messages with a Bounce record (``bounce-…`` recipients are rejected 550 5.1.1);
- lost: accepted but neither delivered nor bounced (must be 0);
- duplicated: extra copies at the sink plus extra Bounce records;
- unacked: delivered although the client never got its 200/250 (the
  connection died after the commit: a client that retries sends it twice);
- 5xx: server errors answered; tb: those whose body held a stack trace or an
  HTML error page instead of Postmark's JSON (must be 0);
- recovery s: from healing the fault (for a kill: the restart) until every
  message accepted up to then is delivered or bounced; load goes on meanwhile.

Exit status 1 if any row lost a message or leaked a stack trace.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import psycopg
import requests

from .network import CHAOS_LOCAL, FaultProxy, Sink
from .platform import Platform
from .services import WORK, MotoS3, Postgres, Redis, free_port

IDS = itertools.count(1)
SINK_DOMAIN = "sink.test"


# --- load ----------------------------------------------------------------------
@dataclass
class Tally:
    accepted: set[int] = field(default_factory=set)
    attempted: set[int] = field(default_factory=set)
    http_5xx: int = 0
    dirty_5xx: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _address(ident: int, bounce_share: float) -> str:
    prefix = "bounce-" if random.random() < bounce_share else ""
    return f"{prefix}c{ident}@{SINK_DOMAIN}"


def _is_dirty(body: str) -> bool:
    """A 5xx body that is not Postmark's JSON error, or that leaks a trace."""
    if "Traceback" in body or "<html" in body.lower():
        return True
    try:
        data = json.loads(body)
    except ValueError:
        return True
    return not ({"ErrorCode", "Message"} <= set(data))


class Load:
    """Open-loop senders at a fixed total rate until ``stop``."""

    def __init__(
        self,
        *,
        kind: str,
        platform: Platform,
        token: str,
        rate: float,
        clients: int = 4,
        bounce_share: float = 0.1,
    ) -> None:
        self.kind, self.platform, self.token = kind, platform, token
        self.rate, self.clients, self.bounce_share = rate, clients, bounce_share
        self.tally = Tally()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(clients)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        interval = self.clients / self.rate
        if self.kind == "http":
            self._run_http(interval)
        else:
            self._run_smtp(interval)

    def _pace(self, next_at: float, interval: float) -> float:
        delay = next_at - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
        return max(next_at + interval, time.monotonic() - 1)

    def _run_http(self, interval: float) -> None:
        session = requests.Session()
        url = f"http://127.0.0.1:{self.platform.web_port}/email"
        headers = {"Accept": "application/json", "X-Postmark-Server-Token": self.token}
        next_at = time.monotonic()
        tally = self.tally
        while not self._stop.is_set():
            next_at = self._pace(next_at, interval)
            ident = next(IDS)
            body = {
                "From": "sender@chaos.example.com",
                "To": _address(ident, self.bounce_share),
                "Subject": f"chaos {ident}",
                "TextBody": "x" * 1500,
            }
            with tally.lock:
                tally.attempted.add(ident)
            try:
                resp = session.post(url, json=body, headers=headers, timeout=15)
            except requests.RequestException:
                with tally.lock:
                    tally.refused += 1
                session = requests.Session()
                continue
            with tally.lock:
                if resp.status_code == 200 and resp.json().get("ErrorCode") == 0:
                    tally.accepted.add(ident)
                elif resp.status_code >= 500:
                    tally.http_5xx += 1
                    tally.dirty_5xx += _is_dirty(resp.text)

    def _run_smtp(self, interval: float) -> None:
        client: smtplib.SMTP | None = None
        next_at = time.monotonic()
        tally = self.tally
        while not self._stop.is_set():
            next_at = self._pace(next_at, interval)
            ident = next(IDS)
            rcpt = _address(ident, self.bounce_share)
            msg = (
                f"From: sender@chaos.example.com\r\nTo: {rcpt}\r\n"
                f"Subject: chaos {ident}\r\n\r\n" + ("x" * 75 + "\r\n") * 20
            )
            with tally.lock:
                tally.attempted.add(ident)
            try:
                if client is None:
                    client = smtplib.SMTP(
                        "127.0.0.1", self.platform.smtpd_port, timeout=15
                    )
                    client.login(self.token, self.token)
                client.sendmail("sender@chaos.example.com", [rcpt], msg)
            except (smtplib.SMTPException, OSError) as exc:
                with tally.lock:
                    if isinstance(exc, smtplib.SMTPResponseException) and (
                        exc.smtp_code >= 500
                    ):
                        tally.http_5xx += 1  # a permanent SMTP refusal
                    else:
                        tally.refused += 1
                try:
                    if client is not None:
                        client.close()
                except OSError:
                    pass
                client = None
                continue
            with tally.lock:
                tally.accepted.add(ident)
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                pass


# --- accounting ------------------------------------------------------------------
@dataclass
class Row:
    fault: str
    accepted: int = 0
    delivered: int = 0
    bounced: int = 0
    lost: int = 0
    duplicated: int = 0
    unacked: int = 0
    http_5xx: int = 0
    dirty_5xx: int = 0
    recovery_s: float | None = None
    note: str = ""


class Ledger:
    """What the platform recorded, read straight from its database."""

    def __init__(self, url: str, server_id: int) -> None:
        self.url, self.server_id = url, server_id

    def _query(self, sql: str) -> list[tuple]:
        for _ in range(60):
            try:
                with psycopg.connect(self.url, connect_timeout=3) as conn:
                    return conn.execute(sql, (self.server_id,)).fetchall()
            except psycopg.OperationalError:
                time.sleep(1)
        raise RuntimeError("the chaos database stayed unreachable")

    def bounces(self) -> Counter[int]:
        found: Counter[int] = Counter()
        for email, count in self._query(
            "SELECT lower(email), count(*) FROM bounces_bounce WHERE server_id = %s"
            " GROUP BY lower(email)"
        ):
            match = CHAOS_LOCAL.match(email)
            if match:
                found[int(match.group(1))] += count
        return found

    def in_flight(self) -> int:
        return self._query(
            "SELECT count(*) FROM mail_recipient WHERE server_id = %s"
            " AND status IN ('queued', 'sending')"
        )[0][0]


def settle(
    *,
    accepted: set[int],
    sink: Sink,
    ledger: Ledger,
    timeout: float,
    by_bounce_only: bool = False,
) -> float:
    """Wait until every accepted message is delivered or bounced and nothing is
    in flight; returns the seconds it took (``timeout`` if it never did)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        done = set(ledger.bounces())
        if not by_bounce_only:
            done |= set(sink.snapshot())
        if accepted <= done and ledger.in_flight() == 0:
            return time.monotonic() - start
        time.sleep(0.5)
    return timeout


class Recovery:
    """Seconds from healing a fault until everything accepted up to then is
    delivered or bounced (load goes on meanwhile)."""

    def __init__(
        self,
        *,
        accepted: set[int],
        sink: Sink,
        ledger: Ledger,
        healed: float,
        by_bounce_only: bool = False,
    ) -> None:
        self.pending = set(accepted)
        self.sink, self.ledger, self.healed = sink, ledger, healed
        self.by_bounce_only = by_bounce_only
        self.seconds: float | None = None
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while time.monotonic() - self.healed < 600:
            done = set(self.ledger.bounces())
            if not self.by_bounce_only:
                done |= set(self.sink.snapshot())
            if self.pending <= done:
                self.seconds = round(time.monotonic() - self.healed, 1)
                return
            time.sleep(0.25)

    def result(self, timeout: float = 5) -> float | None:
        self._thread.join(timeout)
        return self.seconds


def account(row: Row, *, tally: Tally, sink: Sink, ledger: Ledger) -> Row:
    time.sleep(3)  # late duplicates (a re-queued claim) would show up now
    deliveries = sink.snapshot()
    bounces = ledger.bounces()
    row.accepted = len(tally.accepted)
    row.delivered = len(set(deliveries) & tally.attempted)
    row.bounced = len(set(bounces) & tally.attempted)
    row.lost = len(tally.accepted - set(deliveries) - set(bounces))
    row.duplicated = sum(n - 1 for n in deliveries.values() if n > 1) + sum(
        n - 1 for n in bounces.values() if n > 1
    )
    row.unacked = len((set(deliveries) | set(bounces)) - tally.accepted)
    row.http_5xx, row.dirty_5xx = tally.http_5xx, tally.dirty_5xx
    return row


# --- the suite -------------------------------------------------------------------
class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        WORK.mkdir(parents=True, exist_ok=True)
        self.pg, self.redis, self.s3 = Postgres(), Redis(), MotoS3()
        self.sink = Sink(free_port())
        self.route = FaultProxy(free_port(), self.sink.port)
        self.s3_path: FaultProxy | None = None

    def __enter__(self) -> Suite:
        self.pg.start()
        self.redis.start()
        self.sink.start()
        self.route.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.route.stop()
        self.sink.stop()
        self.s3.stop()
        self.redis.stop()
        self.pg.stop()

    def env(self, *, archive: str) -> dict[str, str]:
        env = {
            "DATABASE_URL": self.pg.url,
            "CELERY_BROKER_URL": self.redis.url,
            "REDIS_URL": self.redis.url,
            "SENDER_POOL": f"smtp://127.0.0.1:{self.route.port}?tls=none",
            "ARCHIVE_LOCAL_ROOT": str(WORK / "archive"),
        }
        if archive == "s3":
            if self.s3_path is None:
                self.s3.start()
                self.s3_path = FaultProxy(free_port(), self.s3.port)
                self.s3_path.start()
            env.update(
                ARCHIVE_S3_BUCKET=MotoS3.BUCKET,
                ARCHIVE_S3_ENDPOINT_URL=f"http://127.0.0.1:{self.s3_path.port}",
                ARCHIVE_S3_REGION="us-east-1",
                ARCHIVE_S3_ACCESS_KEY_ID="chaos",
                ARCHIVE_S3_SECRET_ACCESS_KEY="chaos",
                AWS_MAX_ATTEMPTS="2",
            )
        elif archive == "tmpfs":
            env["ARCHIVE_LOCAL_ROOT"] = str(WORK / "tmpfs-archive")
        return env

    def run(
        self,
        name: str,
        fault: Callable[[Suite, Platform], float],
        *,
        load: str = "http",
        archive: str = "local",
        settle_timeout: float = 240,
        note: str = "",
    ) -> Row:
        if archive == "tmpfs":
            _mount_tmpfs(WORK / "tmpfs-archive", size_mb=48)
        self.sink.reset()
        self.route.set("pass")
        platform = Platform(env=self.env(archive=archive), name=name)
        token = platform.migrate_and_tenant()
        ledger = Ledger(self.pg.url, platform.server_id)
        platform.start()
        self.platform = platform
        try:
            if load == "dsn":
                return self._run_dsn(name, fault, platform, token, ledger, note)
            traffic = Load(
                kind=load, platform=platform, token=token, rate=self.args.rate
            )
            traffic.start()
            time.sleep(3)
            healed = fault(self, platform)
            with traffic.tally.lock:
                accepted_so_far = set(traffic.tally.accepted)
            recovery = Recovery(
                accepted=accepted_so_far, sink=self.sink, ledger=ledger, healed=healed
            )
            remaining = self.args.seconds - 3 - (time.monotonic() - healed)
            if remaining > 0:
                time.sleep(remaining)
            traffic.stop()
            took = settle(
                accepted=traffic.tally.accepted,
                sink=self.sink,
                ledger=ledger,
                timeout=settle_timeout,
            )
            row = Row(fault=name, note=note)
            row.recovery_s = recovery.result()
            if took >= settle_timeout:
                row.note = (row.note + "; did not settle").lstrip("; ")
            return account(row, tally=traffic.tally, sink=self.sink, ledger=ledger)
        finally:
            platform.stop()
            if archive == "tmpfs":
                _umount(WORK / "tmpfs-archive")

    def _run_dsn(self, name, fault, platform, token, ledger, note) -> Row:
        """Deliver some messages, then mail a DSN for each to its VERP return
        path at the bounce MX while the fault hits; a DSN is re-sent (as a
        real MTA would) until the MX answers 250."""
        sends = Load(
            kind="http",
            platform=platform,
            token=token,
            rate=self.args.rate,
            bounce_share=0,
        )
        sends.start()
        time.sleep(min(5, self.args.seconds))
        sends.stop()
        settle(accepted=sends.tally.accepted, sink=self.sink, ledger=ledger, timeout=60)
        paths = {
            i: p for i, p in self.sink.return_paths.items() if i in sends.tally.accepted
        }
        tally = Tally()
        queue = list(paths.items())
        lock = threading.Lock()

        def sender() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    ident, verp = queue.pop()
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    try:
                        with smtplib.SMTP(
                            "127.0.0.1", platform.mx_port, timeout=10
                        ) as mx:
                            mx.sendmail("", [verp], _dsn(ident))
                        with tally.lock:
                            tally.accepted.add(ident)
                        break
                    except (smtplib.SMTPException, OSError):
                        time.sleep(0.5)
                time.sleep(0.05)

        for ident in paths:
            tally.attempted.add(ident)
        threads = [threading.Thread(target=sender, daemon=True) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        healed = fault(self, platform)
        with tally.lock:
            accepted_so_far = set(tally.accepted)
        recovery = Recovery(
            accepted=accepted_so_far,
            sink=self.sink,
            ledger=ledger,
            healed=healed,
            by_bounce_only=True,
        )
        for thread in threads:
            thread.join(180)
        took = settle(
            accepted=tally.accepted,
            sink=self.sink,
            ledger=ledger,
            timeout=120,
            by_bounce_only=True,
        )
        row = Row(fault=name, note=note)
        row.recovery_s = recovery.result()
        if took >= 120:
            row.note = (row.note + "; did not settle").lstrip("; ")
        time.sleep(3)
        bounces = ledger.bounces()
        row.accepted = len(tally.accepted)
        row.bounced = len(set(bounces) & tally.accepted)
        row.lost = len(tally.accepted - set(bounces))
        row.duplicated = sum(n - 1 for n in bounces.values() if n > 1)
        row.unacked = len((set(bounces) & tally.attempted) - tally.accepted)
        return row


def _dsn(ident: int) -> str:
    rcpt = f"c{ident}@{SINK_DOMAIN}"
    return (
        "From: MAILER-DAEMON@mx.sink.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        f"<{rcpt}>: host mx.sink.test said: 550 5.1.1 User unknown\r\n"
        "\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.sink.test\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        "\r\n--b--\r\n"
    )


def _mount_tmpfs(path, *, size_mb: int) -> None:
    _umount(path)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
        check=True,
    )


def _umount(path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, check=False)


# --- faults: each injects, heals, and returns the monotonic time it healed ------
def web_kill9(suite: Suite, p: Platform) -> float:
    for _ in range(3):
        workers = p.children("web")
        if workers:
            os.kill(random.choice(workers), 9)
        time.sleep(1.5)
    return time.monotonic()


def _kill_and_restart(name: str, down: float = 1.0):
    def fault(suite: Suite, p: Platform) -> float:
        p.kill9(name)
        p.restart(name, after=down)
        return time.monotonic()

    fault.__name__ = f"{name}_kill9"
    return fault


def worker_kill9_before_250(suite: Suite, p: Platform) -> float:
    suite.sink.in_data.clear()
    suite.sink.hold.set()  # the next DATA waits before its 250
    suite.sink.in_data.wait(20)
    p.kill9("worker")
    suite.sink.hold.clear()
    suite.sink.release.set()  # the remote MTA keeps what it received
    p.restart("worker")
    return time.monotonic()


def worker_kill9_after_250(suite: Suite, p: Platform) -> float:
    seen = suite.sink.accepted_total
    deadline = time.monotonic() + 20
    while suite.sink.accepted_total < seen + 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    p.kill9("worker")  # remote 250s received, outcomes not yet recorded
    p.restart("worker")
    return time.monotonic()


def beat_kill9(suite: Suite, p: Platform) -> float:
    p.kill9("beat")
    p.kill9("worker")  # with beat gone, a lost task is only found by the sweeper
    p.restart("worker")
    p.restart("beat", after=5)
    return time.monotonic()


def postgres_restart(suite: Suite, p: Platform) -> float:
    suite.pg.restart()
    return time.monotonic()


def redis_flush(suite: Suite, p: Platform) -> float:
    suite.redis.cli("FLUSHALL")
    return time.monotonic()


def redis_down_60s(suite: Suite, p: Platform) -> float:
    suite.redis.stop()
    time.sleep(60)
    suite.redis.start()
    return time.monotonic()


def _route(mode: str, seconds: float = 12):
    def fault(suite: Suite, p: Platform) -> float:
        suite.route.set(mode)
        time.sleep(seconds)
        suite.route.set("pass")
        return time.monotonic()

    return fault


def s3_down(suite: Suite, p: Platform) -> float:
    assert suite.s3_path is not None
    suite.s3_path.set("refuse")
    time.sleep(12)
    suite.s3_path.set("pass")
    return time.monotonic()


def disk_full(suite: Suite, p: Platform) -> float:
    filler = WORK / "tmpfs-archive" / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError:
            pass
    time.sleep(10)
    filler.unlink()
    return time.monotonic()


FAULTS: dict[str, dict] = {
    "web_kill9": {
        "fault": web_kill9,
        "note": "3 gunicorn workers SIGKILLed mid-request",
    },
    "smtpd_kill9": {
        "fault": _kill_and_restart("smtpd"),
        "load": "smtp",
        "note": "smtpd SIGKILLed during DATA, restarted after 1 s",
    },
    "worker_kill9_before_250": {
        "fault": worker_kill9_before_250,
        "note": "worker SIGKILLed while the remote MTA "
        "holds DATA; the remote keeps the message",
    },
    "worker_kill9_after_250": {
        "fault": worker_kill9_after_250,
        "note": "worker SIGKILLed after remote 250s, before outcomes are recorded",
    },
    "beat_kill9": {
        "fault": beat_kill9,
        "note": "beat and worker SIGKILLed, beat down 5 s",
    },
    "bounce_mx_kill9": {
        "fault": _kill_and_restart("bounce_mx"),
        "load": "dsn",
        "note": "bounce MX SIGKILLed while DSNs arrive; rows "
        "count DSNs and Bounce records",
    },
    "postgres_restart": {
        "fault": postgres_restart,
        "note": "pg_ctl restart -m fast during the burst",
    },
    "redis_flush": {
        "fault": redis_flush,
        "note": "FLUSHALL: every queued broker message lost",
    },
    "redis_down_60s": {"fault": redis_down_60s, "note": "Redis stopped for 60 s"},
    "s3_down": {
        "fault": s3_down,
        "archive": "s3",
        "note": "archive (moto S3) unreachable for 12 s",
    },
    "route_hang": {
        "fault": _route("hang"),
        "note": "relay accepts TCP, never answers, 12 s",
    },
    "route_421": {"fault": _route("smtp421"), "note": "relay answers 421, 12 s"},
    "route_close_mid_data": {
        "fault": _route("close_mid_data"),
        "note": "relay drops the connection mid-DATA, 12 s",
    },
    "disk_full": {
        "fault": disk_full,
        "archive": "tmpfs",
        "note": "local archive filesystem full for 10 s",
    },
}

COLUMNS = [
    "fault",
    "accepted",
    "delivered",
    "bounced",
    "lost",
    "duplicated",
    "unacked",
    "http_5xx",
    "dirty_5xx",
    "recovery_s",
]
HEADERS = [
    "fault",
    "accepted",
    "delivered",
    "bounced",
    "lost",
    "duplicated",
    "unacked",
    "5xx",
    "tb",
    "recovery s",
]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        values = asdict(row)
        lines.append("| " + " | ".join(str(values[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> int:
    # SIGTERM (CI's timeout, Ctrl-C's cousin) unwinds like Ctrl-C, so every
    # process and service this run started is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("faults", nargs="*", choices=[[], *FAULTS], default=[])
    parser.add_argument("--rate", type=float, default=30, help="messages/s offered")
    parser.add_argument("--seconds", type=float, default=20, help="load per fault")
    args = parser.parse_args()
    names = args.faults or list(FAULTS)
    rows: list[Row] = []
    with Suite(args) as suite:
        for name in names:
            spec = FAULTS[name]
            print(f"-- {name}: {spec['note']}", flush=True)
            row = suite.run(
                name,
                spec["fault"],
                load=spec.get("load", "http"),
                archive=spec.get("archive", "local"),
                note=spec["note"],
            )
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
    out = table(rows)
    print()
    print(out)
    (WORK / "results.md").write_text(out + "\n")
    (WORK / "results.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    bad = [r.fault for r in rows if r.lost or r.dirty_5xx]
    if bad:
        print(f"FAILED: {', '.join(bad)} lost messages or leaked a stack trace")
        return 1
    print(f"{len(rows)} faults: nothing lost, no stack trace")
    return 0


if __name__ == "__main__":
    sys.exit(main())
