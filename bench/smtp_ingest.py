"""Benchmark SMTP submission: accepted messages per second, N parallel sessions.

Usage (from the repository root, PostgreSQL and Redis configured as for tests)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/4 \\
    .venv/bin/python bench/smtp_ingest.py --messages 5000 --sessions 20 \\
        --runs 3 --postfix [--processes N] [--workers N] [--pipelining]

It migrates the database, creates a throwaway tenant, starts
``manage.py smtpd --processes N`` on a free port (AUTH allowed on loopback
without TLS, per-token rate limit off) and drives it with an asyncio SMTP client
in this process: every session authenticates with the server token, then loops
MAIL/RCPT/DATA with a 2 KB message. A message counts once its ``250`` arrived;
the database is checked afterwards to hold every one of them.

``--postfix`` also measures Postfix's smtpd in the same session: a throwaway
instance under /tmp (queue there, every message to the ``discard`` transport),
driven by the very same client without AUTH, its runs alternating with ours so
both see the same machine noise. The ratio ours/postfix is printed. Needs root
and Debian's postfix package (the ``postfix`` user, /usr/lib/postfix).

Prints one JSON summary (medians of ``--runs``) on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from postfix_ref import Postfix  # bench/ is this script's own folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def log(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.recv(100)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def make_message(sender: str, recipient: str, size: int) -> bytes:
    """A plain-text message of about ``size`` bytes, CRLF, dot-stuffing free."""
    head = (
        f"From: Bench <{sender}>\r\nTo: {recipient}\r\nSubject: bench message\r\n"
        "X-PM-Tag: bench\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghij.\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


# --- the client -------------------------------------------------------------------
async def _reply(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    text = b""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        text += line
        if line[3:4] != b"-":
            return int(line[:3]), text


async def _command(reader, writer, line: bytes, expect: int) -> bytes:
    writer.write(line + b"\r\n")
    code, text = await _reply(reader)
    if code != expect:
        raise RuntimeError(f"{line[:20]!r} -> {text!r}")
    return text


async def _session(
    port: int,
    token: str | None,
    sender: str,
    recipient: str,
    payload: bytes,
    count: int,
    pipelining: bool = False,
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _reply(reader)
    ehlo = await _command(reader, writer, b"EHLO bench.localhost", 250)
    # RFC 2920: send MAIL, RCPT and DATA as one group, only if advertised.
    pipeline = pipelining and b"\r\n250-PIPELINING\r\n" in ehlo
    if token:
        blob = base64.b64encode(f"\0{token}\0{token}".encode())
        await _command(reader, writer, b"AUTH PLAIN " + blob, 235)
    done = 0
    envelope = f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode()
    for _ in range(count):
        if pipeline:
            writer.write(envelope)
            for expect in (250, 250, 354):
                code, text = await _reply(reader)
                if code != expect:
                    raise RuntimeError(f"pipelined envelope -> {text!r}")
        else:
            await _command(reader, writer, f"MAIL FROM:<{sender}>".encode(), 250)
            await _command(reader, writer, f"RCPT TO:<{recipient}>".encode(), 250)
            await _command(reader, writer, b"DATA", 354)
        writer.write(payload + b".\r\n")
        code, text = await _reply(reader)
        if code != 250:
            raise RuntimeError(f"DATA -> {text!r}")
        done += 1
    writer.write(b"QUIT\r\n")
    await writer.drain()
    writer.close()
    return done


async def drive(
    *,
    port: int,
    token: str | None,
    sender: str,
    messages: int,
    sessions: int,
    size: int,
    pipelining: bool = False,
) -> dict[str, float]:
    payload = make_message(sender, "rcpt@bench-sink.example", size)
    per = [messages // sessions + (i < messages % sessions) for i in range(sessions)]
    started = time.perf_counter()
    done = await asyncio.gather(
        *(
            _session(
                port, token, sender, "rcpt@bench-sink.example", payload, n, pipelining
            )
            for n in per
        )
    )
    elapsed = time.perf_counter() - started
    return {
        "messages": sum(done),
        "seconds": round(elapsed, 3),
        "msg_per_s": round(sum(done) / elapsed, 1),
    }


# --- our server ------------------------------------------------------------------
def setup_tenant() -> tuple[str, str, int]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postmark_clone.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from accounts import services
    from messages.dkim import dkim_keypair_generate

    call_command("migrate", verbosity=0)
    suffix = f"{int(time.time())}-{os.getpid()}"
    account = services.account_create(name=f"smtp-bench-{suffix}").obj
    server = services.server_create(account=account, name="bench")
    private_pem, public_b64 = dkim_keypair_generate()
    from accounts.models import Domain

    Domain.objects.create(
        account=account,
        name="bench.example.com",
        dkim_selector="bench",
        dkim_private_key=private_pem,
        dkim_public_key=public_b64,
    )
    return server.token, "sender@bench.example.com", server.obj.id


def stored_count(server_id: int) -> int:
    from django.db import connection

    from messages.models import Message

    connection.close()
    return Message.objects.filter(server_id=server_id).count()


def process_cpu_seconds(pid: int) -> float:
    """User+system CPU of ``pid`` and its children (Linux /proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot (Linux /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def start_ours(port: int, processes: int, workers: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        SMTPD_AUTH_ALLOW_LOOPBACK_PLAINTEXT="true",
        SMTPD_TOKEN_RATE="0",
        SMTPD_WORKERS=str(workers),
        LOG_LEVEL="WARNING",
    )
    cmd = [
        sys.executable,
        str(ROOT / "manage.py"),
        "smtpd",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--processes",
        str(processes),
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    wait_port(port)
    return proc


# --- Postfix reference: bench/postfix_ref.py, discarding what it accepts --------
POSTFIX_DISCARD = """\
default_transport = discard:bench
relay_transport = discard:bench
local_transport = discard:bench
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="per run")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=2048, help="message bytes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--processes", type=int, default=0, help="smtpd processes; 0 = one per CPU"
    )
    parser.add_argument("--workers", type=int, default=2, help="committers/process")
    parser.add_argument("--postfix", action="store_true", help="also run Postfix")
    parser.add_argument(
        "--pipelining",
        action="store_true",
        help="the client pipelines MAIL/RCPT/DATA (RFC 2920) where advertised",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="benchmark an already running smtpd"
    )
    parser.add_argument("--token", default="", help="token for --port")
    args = parser.parse_args()

    token, sender, server_id = setup_tenant()
    result: dict[str, object] = {
        "sessions": args.sessions,
        "messages_per_run": args.messages,
        "message_bytes": len(
            make_message(sender, "rcpt@bench-sink.example", args.size)
        ),
        "processes": args.processes or os.cpu_count(),
        "workers": args.workers,
        "pipelining": args.pipelining,
        "cpus": os.cpu_count(),
    }
    proc = None
    port = args.port
    if not port:
        port = free_port()
        proc = start_ours(port, args.processes, args.workers)
    else:
        token = args.token or token
    postfix = Postfix(free_port(), POSTFIX_DISCARD) if args.postfix else None

    def run_once(target_port: int, target_token: str | None) -> float:
        started = time.process_time()
        machine = machine_busy()
        out = asyncio.run(
            drive(
                port=target_port,
                token=target_token,
                sender=sender,
                messages=args.messages,
                sessions=args.sessions,
                size=args.size,
                pipelining=args.pipelining,
            )
        )
        client_cpu[bool(target_token)] += time.process_time() - started
        for i, value in enumerate(machine_busy()):
            busy[bool(target_token)][i] += value - machine[i]
        log(f"{'ours' if target_token else 'postfix'}: {out}")
        return float(out["msg_per_s"])

    ours: list[float] = []
    theirs: list[float] = []
    client_cpu = {True: 0.0, False: 0.0}  # this process's CPU, ours / Postfix
    busy = {True: [0, 0], False: [0, 0]}  # machine busy/total jiffies
    cpu_ours = 0.0
    try:
        if postfix is not None:
            postfix.__enter__()
        before = stored_count(server_id)
        # Alternate ours and Postfix run by run, so both see the same noise.
        for _ in range(args.runs):
            cpu_before = process_cpu_seconds(proc.pid) if proc else 0.0
            ours.append(run_once(port, token))
            cpu_ours += (process_cpu_seconds(proc.pid) if proc else 0.0) - cpu_before
            if postfix is not None:
                theirs.append(run_once(postfix.port, None))
        stored = stored_count(server_id) - before
    finally:
        if postfix is not None:
            postfix.__exit__(None, None, None)
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    result["ours_runs_msg_per_s"] = ours
    result["ours_median_msg_per_s"] = statistics.median(ours)
    if proc is not None:
        # CPU the smtpd process(es) spent per message: steadier than msg/s on a
        # shared machine (PostgreSQL's own CPU is not included).
        result["ours_smtpd_cpu_ms_per_msg"] = round(
            cpu_ours * 1000 / (args.messages * args.runs), 3
        )
        result["ours_all_committed"] = stored == args.messages * args.runs
    # The client shares the machine: its CPU per message, for both servers.
    result["client_cpu_ms_per_msg_ours"] = round(
        client_cpu[True] * 1000 / (args.messages * args.runs), 3
    )
    # Whether the machine was saturated (all CPUs, every process).
    result["machine_busy_pct_ours"] = round(100 * busy[True][0] / busy[True][1], 1)
    if theirs:
        result["machine_busy_pct_postfix"] = round(
            100 * busy[False][0] / busy[False][1], 1
        )
        result["client_cpu_ms_per_msg_postfix"] = round(
            client_cpu[False] * 1000 / (args.messages * args.runs), 3
        )
        result["postfix_runs_msg_per_s"] = theirs
        result["postfix_median_msg_per_s"] = statistics.median(theirs)
        result["ratio_ours_to_postfix"] = round(
            statistics.median(ours) / statistics.median(theirs), 3
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
