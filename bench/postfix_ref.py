"""A throwaway Postfix instance for the benchmarks' reference runs.

Postfix (Debian's ``postfix`` package) is the reference MTA the benchmarks
compare against in the same session. ``Postfix`` starts one under a temporary
directory with its own configuration, queue and log, listening on one loopback
port, and removes it afterwards. Needs root (``postfix set-permissions``).
``bench/smtp_ingest.py`` lets it discard what it accepts; ``bench/deliver.py``
has it relay to an ``smtp-sink``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.localhost
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
maillog_file = {root}/maillog
maillog_file_prefixes = /tmp, /var
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 200
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
"""
# Only the services the benchmarks use, none chrooted (the queue is under /tmp).
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def installed() -> bool:
    return shutil.which("postfix") is not None


class Postfix:
    """``with Postfix(port, extra_main_cf) as pf:`` a running instance whose
    smtpd listens on 127.0.0.1:``port``; ``extra_main_cf`` adds ``main.cf``
    lines (where accepted mail goes, concurrency limits)."""

    def __init__(self, port: int, extra_main_cf: str = "") -> None:
        self.port = port
        self.extra_main_cf = extra_main_cf
        self.root = Path(tempfile.mkdtemp(prefix="pf-bench-"))
        self.etc = self.root / "etc"

    def __enter__(self) -> Postfix:
        self.root.chmod(0o755)  # the postfix user must reach data/ and queue/
        self.etc.mkdir()
        for sub in ("queue", "data"):
            (self.root / sub).mkdir()
        shutil.chown(self.root / "data", "postfix")
        (self.etc / "main.cf").write_text(
            MAIN_CF.format(root=self.root) + self.extra_main_cf
        )
        (self.etc / "master.cf").write_text(MASTER_CF.format(port=self.port))
        subprocess.run(
            ["postfix", "-c", str(self.etc), "set-permissions"],
            check=False,
            capture_output=True,
        )
        subprocess.run(["postfix", "-c", str(self.etc), "start"], check=True)
        _wait_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["postfix", "-c", str(self.etc), "stop"], check=False)
        time.sleep(1)
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"Postfix did not open port {port}")
