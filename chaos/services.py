"""Throwaway backing services for the chaos suite, all on 127.0.0.1.

The suite kills, restarts and floods these, so it never touches the machine's
shared PostgreSQL or Redis: it runs its own PostgreSQL cluster (``initdb`` into
``var/chaos/pg``, a free port), its own ``redis-server`` and moto's S3 server,
each started and stopped here.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "chaos"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found (Debian postgresql package)")
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI and sessions run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class Postgres:
    """A private PostgreSQL cluster: fsync on (the suite tests durability)."""

    def __init__(self) -> None:
        self.dir = WORK / "pg"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/chaos"

    def start(self) -> None:
        if not (self.dir / "PG_VERSION").exists():
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir.mkdir(parents=True)
            if os.geteuid() == 0:
                shutil.chown(self.dir, "postgres", "postgres")
            subprocess.run(
                _as_postgres(
                    [
                        _pg_bin("initdb"),
                        "-D",
                        str(self.dir),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "--no-sync",
                    ]
                ),
                check=True,
                capture_output=True,
            )
        self._ctl("start", "-w", "-o", self._options())
        wait_port(self.port)
        subprocess.run(
            [
                _pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-qc",
                "CREATE DATABASE chaos",
            ],
            capture_output=True,
            check=False,
        )

    def _options(self) -> str:
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}"
            " -c max_connections=200 -c shared_buffers=128MB"
        )

    def _ctl(self, *args: str) -> None:
        log = self.dir / "server.log"
        subprocess.run(
            _as_postgres(
                [_pg_bin("pg_ctl"), "-D", str(self.dir), "-l", str(log), *args]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, as in a failover."""
        self._ctl("restart", "-w", "-m", "fast", "-o", self._options())

    def stop(self) -> None:
        try:
            self._ctl("stop", "-m", "fast")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(WORK),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_port(self.port)

    def cli(self, *args: str) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), *args],
            capture_output=True,
            check=False,
            timeout=10,
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class MotoS3:
    """moto's standalone S3 server; the platform reaches it through a FaultProxy,
    so "S3 down" cuts the network path without losing moto's in-memory objects."""

    BUCKET = "chaos-archive"

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        import sys

        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_port(self.port)
        import boto3

        boto3.resource(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            aws_access_key_id="chaos",
            aws_secret_access_key="chaos",
            region_name="us-east-1",
        ).create_bucket(Bucket=self.BUCKET)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
