"""The platform under test: the same processes a production box runs
(gunicorn, a Celery worker, Celery beat, the SMTP submission server, the bounce
MX), each in its own process group so it can be killed with SIGKILL and started
again the way a supervisor (systemd ``Restart=always``) would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .services import ROOT, WORK, free_port, wait_port

PY = sys.executable


class Platform:
    def __init__(self, *, env: dict[str, str], name: str) -> None:
        self.web_port = free_port()
        self.smtpd_port = free_port()
        self.mx_port = free_port()
        self.logs = WORK / "logs" / name
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "postmark_clone.settings",
            "DJANGO_DEBUG": "false",
            "SECRET_KEY": "chaos-secret-key-not-for-production-0123456789abcdef",
            "LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(WORK / "prometheus" / name),
            "SMTPD_PORTS": str(self.smtpd_port),
            "SMTPD_AUTH_ALLOW_LOOPBACK_PLAINTEXT": "true",
            "SMTPD_PROCESSES": "1",
            "BOUNCE_MX_PORT": str(self.mx_port),
            # Short timers, so recovery is measured in seconds, not minutes;
            # the mechanisms are the production ones.
            "DELIVERY_SWEEP_SECONDS": "2",
            "DELIVERY_SWEEP_GRACE_SECONDS": "5",
            "DELIVERY_LEASE_SECONDS": "15",
            "DELIVERY_RETRY_BASE_SECONDS": "2",
            "DELIVERY_RETRY_MAX_SECONDS": "5",
            "DELIVERY_ROUTE_COOLDOWN_SECONDS": "1",
            "DELIVERY_ROUTE_COOLDOWN_MAX_SECONDS": "3",
            "SMTP_TIMEOUT_SECONDS": "5",
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            **env,
        }
        Path(self.env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    COMMANDS = {
        "web": lambda p: [
            PY,
            "-m",
            "gunicorn",
            "postmark_clone.wsgi",
            "-w",
            "2",
            "-k",
            "gthread",
            "--threads",
            "4",
            "-b",
            f"127.0.0.1:{p.web_port}",
            "--log-level",
            "warning",
            "--graceful-timeout",
            "5",
        ],
        "worker": lambda p: [
            PY,
            "-m",
            "celery",
            "-A",
            "postmark_clone",
            "worker",
            "--pool=prefork",
            "--concurrency=2",
            "--loglevel=WARNING",
            "--without-mingle",
            "--without-gossip",
            "--prefetch-multiplier=1",
        ],
        "beat": lambda p: [
            PY,
            "-m",
            "celery",
            "-A",
            "postmark_clone",
            "beat",
            "--loglevel=WARNING",
            "--schedule",
            str(p.logs / "beat-schedule"),
        ],
        "smtpd": lambda p: [PY, "manage.py", "smtpd"],
        "bounce_mx": lambda p: [PY, "manage.py", "bounce_mx", "--port", str(p.mx_port)],
    }

    def migrate_and_tenant(self) -> str:
        """Migrate the database and create the chaos tenant; returns its token."""
        subprocess.run(
            [PY, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        code = (
            "import django; django.setup()\n"
            "from accounts.models import Account\n"
            "from tests.factories import make_tenant\n"
            "Account.objects.filter(name='chaos').delete()\n"
            "t = make_tenant('chaos', domain='chaos.example.com')\n"
            "print(t.server_token, t.server.id)\n"
        )
        done = subprocess.run(
            [PY, "-c", code], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"creating the chaos tenant failed:\n{done.stderr}")
        out = done.stdout.split()
        self.server_id = int(out[1])
        return out[0]

    def start(self, *names: str) -> None:
        for name in names or tuple(self.COMMANDS):
            self._spawn(name)
        if "web" in (names or self.COMMANDS):
            wait_port(self.web_port)
        if "smtpd" in (names or self.COMMANDS):
            wait_port(self.smtpd_port)
        if "bounce_mx" in (names or self.COMMANDS):
            wait_port(self.mx_port)

    def _spawn(self, name: str) -> None:
        log = open(self.logs / f"{name}.log", "a")  # noqa: SIM115
        self.procs[name] = subprocess.Popen(
            self.COMMANDS[name](self),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self, name: str) -> None:
        """SIGKILL the component's whole process group (master and children)."""
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()

    def restart(self, name: str, *, after: float = 1.0) -> None:
        time.sleep(after)
        self._spawn(name)
        port = {
            "web": self.web_port,
            "smtpd": self.smtpd_port,
            "bounce_mx": self.mx_port,
        }.get(name)
        if port:
            wait_port(port)

    def children(self, name: str) -> list[int]:
        """Pids of the component's child processes (gunicorn's workers)."""
        pid = self.procs[name].pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as handle:
                return [int(x) for x in handle.read().split()]
        except OSError:
            return []

    def pids(self) -> dict[str, list[int]]:
        """Every live pid per component (for memory sampling)."""
        found: dict[str, list[int]] = {}
        for name, proc in self.procs.items():
            pids = [proc.pid]
            stack = [proc.pid]
            while stack:
                current = stack.pop()
                try:
                    with open(f"/proc/{current}/task/{current}/children") as fh:
                        kids = [int(x) for x in fh.read().split()]
                except OSError:
                    kids = []
                pids += kids
                stack += kids
            found[name] = pids
        return found

    def stop(self) -> None:
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
