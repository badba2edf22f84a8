#!/usr/bin/env python
"""Benchmark templated sends against plain sends in the same session.

Starts the app under gunicorn on PostgreSQL (like ``bench/send_api.py``, whose
helpers it reuses), creates a tenant with a layout (a ``<style>`` block, so CSS
inlining runs as it does by default) and a standard template that uses it, and
measures, alternating plain and templated runs so drift hits both alike:

* ``POST /email`` vs ``POST /email/withTemplate`` at a fixed concurrency
  (closed loop): requests/s, p50/p99 latency;
* ``POST /email/batch`` vs ``POST /email/batchWithTemplates``, 500 messages
  per request: messages/s.

The plain messages carry exactly what the template renders to (subject, HTML
with the layout and inlined CSS, text), so the difference is the cost of
templating alone: lookup, rendering and inlining. Each measurement is repeated
(``--runs``, default 3) and the median reported with the ratio
templated/plain; the last thing printed is a JSON summary.

Usage::

    flock /tmp/heavy.lock python bench/templates.py
    python bench/templates.py --runs 5 --duration 15
    python bench/templates.py --profile 300    # pyinstrument, in-process
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from send_api import (  # noqa: E402  (bench/ is not a package)
    DEFAULT_DATABASE_URL,
    Connection,
    _percentile,
    bench_env,
    django_json,
    ensure_database,
    median_of,
    start_gunicorn,
    stop,
)

sys.path.insert(0, str(ROOT))
from templating.css import inline_css  # noqa: E402  (pure, no Django needed)
from templating.mustache import compile_template, render  # noqa: E402

LAYOUT_HTML = (
    "<html><head><style>body{font-family:sans-serif} .lead{color:#333}"
    " p b{font-weight:bold}</style></head><body>{{{ @content }}}"
    "<footer>{{company}}</footer></body></html>"
)
TEMPLATE_HTML = (
    '<p class="lead">Hi {{user.name}}</p>'
    "{{#each lines}}<p>Hello from the <b>{{what}}</b>.</p>{{/each}}"
)
TEMPLATE_TEXT = "Hi {{user.name}}\n{{#each lines}}Hello from the {{what}}. {{/each}}"


def setup(env: dict[str, str]) -> tuple[str, str, int]:
    """Migrate, create a tenant, its layout and template; returns (server
    token, sender, template id)."""
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
        "from templating.services import template_create\n"
        "tag = uuid.uuid4().hex[:8]\n"
        "acct = services.account_create(name=f'bench-{tag}')\n"
        "srv = services.server_create(account=acct.obj, name=f'bench-{tag}')\n"
        "priv, pub = dkim_keypair_generate()\n"
        "Domain.objects.create(account=acct.obj, name=f'{tag}.bench.example.com',"
        " dkim_selector='bench', dkim_private_key=priv, dkim_public_key=pub)\n"
        "template_create(server=srv.obj, name='Layout', alias='layout',"
        f" template_type='Layout', html_body={LAYOUT_HTML!r},"
        " text_body='{{{@content}}}')\n"
        "t = template_create(server=srv.obj, name='Bench', alias='bench',"
        " subject='Benchmark message {{n}}', layout_alias='layout',"
        f" html_body={TEMPLATE_HTML!r}, text_body={TEMPLATE_TEXT!r})\n"
        "print(json.dumps({'token': srv.token, 'template': t.pk,"
        " 'sender': f'Bench <bench@{tag}.bench.example.com>'}))\n"
    )
    data = django_json(code, env)
    return data["token"], data["sender"], data["template"]


def templated(sender: str, template_id: int, i: int) -> dict:
    return {
        "From": sender,
        "To": f"user{i}@example.org",
        "TemplateId": template_id,
        "TemplateModel": {
            "n": i,
            "user": {"name": f"User {i}"},
            "company": "Bench Inc.",
            "lines": [{"what": "benchmark"}] * 20,
        },
        "Tag": "bench",
        "Metadata": {"i": str(i)},
    }


def tree_cpu_seconds(root: int) -> float:
    """User+system CPU seconds used so far by process ``root`` and its
    descendants (Linux /proc). Less sensitive to other load on a shared
    machine than throughput: it counts only the work the server did."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree = {root}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return sum(times.get(pid, 0.0) for pid in tree)


def with_cpu(root: int, result_of, accepted_key: str = "accepted") -> dict:
    before = tree_cpu_seconds(root)
    result = result_of()
    used = tree_cpu_seconds(root) - before
    result["server_cpu_ms_per_msg"] = (
        round(used * 1000 / result[accepted_key], 3) if result[accepted_key] else None
    )
    return result


def plain(sender: str, i: int) -> dict:
    """The plain message equal to what ``templated(sender, _, i)`` renders to."""
    model = templated(sender, 0, i)["TemplateModel"]
    html = render(
        compile_template(LAYOUT_HTML),
        model,
        render(compile_template(TEMPLATE_HTML), model),
    )
    return {
        "From": sender,
        "To": f"user{i}@example.org",
        "Subject": render(compile_template("Benchmark message {{n}}"), model),
        "HtmlBody": inline_css(html),
        "TextBody": render(compile_template(TEMPLATE_TEXT), model),
        "Tag": "bench",
        "Metadata": {"i": str(i)},
    }


async def closed_loop(
    url: str, token: str, path: str, body: bytes, concurrency: int, duration: float
) -> dict:
    parsed = urllib.parse.urlparse(url)
    latencies: list[float] = []
    errors: dict[int, int] = {}
    began = time.perf_counter()
    stop_at = began + duration

    async def worker() -> None:
        conn = Connection(parsed.hostname or "127.0.0.1", parsed.port or 80)
        try:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                status, _payload = await conn.request(path, body, token)
                if status == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors[status] = errors.get(status, 0) + 1
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - began
    latencies.sort()
    return {
        "accepted": len(latencies),
        "req_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(_percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
        "errors": errors,
    }


async def batches(
    url: str, token: str, path: str, body: bytes, size: int, count: int, workers: int
) -> dict:
    parsed = urllib.parse.urlparse(url)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    accepted = failed = 0
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
                status, payload = await conn.request(path, body, token)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    failed += size
                    continue
                for item in json.loads(payload):
                    if item.get("ErrorCode") == 0:
                        accepted += 1
                    else:
                        failed += 1
        finally:
            conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    wall = time.perf_counter() - began
    return {
        "accepted": accepted,
        "failed": failed,
        "msg_per_s": round(accepted / wall, 1),
        "batch_p50_ms": round(statistics.median(latencies) * 1000, 1),
    }


def profile(env: dict[str, str], token: str, sender: str, tid: int, n: int) -> None:
    """Profile ``/email/withTemplate`` in-process (Django test client)."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    client = Client()
    headers = {"HTTP_X_POSTMARK_SERVER_TOKEN": token, "HTTP_ACCEPT": "application/json"}
    cases = {
        "plain": ("/email", json.dumps(plain(sender, 0)), n),
        "template": ("/email/withTemplate", json.dumps(templated(sender, tid, 0)), n),
        "plain-batch": (
            "/email/batch",
            json.dumps([plain(sender, i) for i in range(500)]),
            max(1, n // 50),
        ),
        "template-batch": (
            "/email/batchWithTemplates",
            json.dumps({"Messages": [templated(sender, tid, i) for i in range(500)]}),
            max(1, n // 50),
        ),
    }
    out = ROOT / "var"
    out.mkdir(exist_ok=True)
    for name, (path, body, count) in cases.items():
        for _ in range(3):
            client.post(path, body, content_type="application/json", **headers)
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in range(count):
            response = client.post(
                path, body, content_type="application/json", **headers
            )
            assert response.status_code == 200, response.content[:300]
        profiler.stop()
        report = out / f"profile-templates-{name}.txt"
        report.write_text(profiler.output_text(unicode=False, show_all=False))
        print(f"profile of {count} x {path} written to {report}", file=sys.stderr)


def cpu_median(runs: list[dict]) -> float:
    return round(statistics.median(r["server_cpu_ms_per_msg"] for r in runs), 3)


def ratio(templated_value: float, plain_value: float) -> float:
    return round(templated_value / plain_value, 3) if plain_value else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=6, help="threads per worker")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0, help="s per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batches", type=int, default=20, help="batches per run")
    parser.add_argument("--batch-concurrency", type=int, default=2)
    parser.add_argument("--profile", type=int, metavar="N")
    args = parser.parse_args()

    env = bench_env(args)
    ensure_database(args.database_url)
    token, sender, tid = setup(env)
    if args.profile:
        profile(env, token, sender, tid, args.profile)
        return
    plain_one = json.dumps(plain(sender, 0)).encode()
    tpl_one = json.dumps(templated(sender, tid, 0)).encode()
    plain_batch = json.dumps(
        [plain(sender, i) for i in range(args.batch_size)]
    ).encode()
    tpl_batch = json.dumps(
        {"Messages": [templated(sender, tid, i) for i in range(args.batch_size)]}
    ).encode()
    proc, url = start_gunicorn(env, args.workers, args.threads, args.worker_class)
    single = {"plain": [], "template": []}
    batch = {"plain": [], "template": []}
    try:
        for path, body in (("/email", plain_one), ("/email/withTemplate", tpl_one)):
            asyncio.run(
                closed_loop(url, token, path, body, args.concurrency, args.warmup)
            )
        for _ in range(args.runs):
            for kind, path, body in (
                ("plain", "/email", plain_one),
                ("template", "/email/withTemplate", tpl_one),
            ):
                single[kind].append(
                    with_cpu(
                        proc.pid,
                        lambda path=path, body=body: asyncio.run(
                            closed_loop(
                                url, token, path, body, args.concurrency, args.duration
                            )
                        ),
                    )
                )
            for kind, path, body in (
                ("plain", "/email/batch", plain_batch),
                ("template", "/email/batchWithTemplates", tpl_batch),
            ):
                batch[kind].append(
                    with_cpu(
                        proc.pid,
                        lambda path=path, body=body: asyncio.run(
                            batches(
                                url,
                                token,
                                path,
                                body,
                                args.batch_size,
                                args.batches,
                                args.batch_concurrency,
                            )
                        ),
                    )
                )
    finally:
        stop(proc)
    summary = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "server": {
            "gunicorn_workers": args.workers,
            "threads": args.threads,
            "worker_class": args.worker_class,
        },
        "single": {
            kind: {
                "runs": runs,
                "median_req_per_s": median_of(runs, "req_per_s"),
                "median_p50_ms": median_of(runs, "p50_ms"),
                "median_p99_ms": median_of(runs, "p99_ms"),
                "median_server_cpu_ms_per_msg": cpu_median(runs),
            }
            for kind, runs in single.items()
        },
        "batch": {
            kind: {
                "runs": runs,
                "median_msg_per_s": median_of(runs, "msg_per_s"),
                "median_server_cpu_ms_per_msg": cpu_median(runs),
            }
            for kind, runs in batch.items()
        },
    }
    summary["ratio_template_over_plain"] = {
        "single_req_per_s": ratio(
            summary["single"]["template"]["median_req_per_s"],
            summary["single"]["plain"]["median_req_per_s"],
        ),
        "single_p50": ratio(
            summary["single"]["template"]["median_p50_ms"],
            summary["single"]["plain"]["median_p50_ms"],
        ),
        "batch_msg_per_s": ratio(
            summary["batch"]["template"]["median_msg_per_s"],
            summary["batch"]["plain"]["median_msg_per_s"],
        ),
        "single_server_cpu_per_msg": ratio(
            summary["single"]["template"]["median_server_cpu_ms_per_msg"],
            summary["single"]["plain"]["median_server_cpu_ms_per_msg"],
        ),
        "batch_server_cpu_per_msg": ratio(
            summary["batch"]["template"]["median_server_cpu_ms_per_msg"],
            summary["batch"]["plain"]["median_server_cpu_ms_per_msg"],
        ),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
