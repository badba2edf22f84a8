"""``python manage.py smtpd``: the SMTP submission server (an edge).

Serves every port in ``SMTPD_PORTS`` with STARTTLS and every port in
``SMTPD_TLS_PORTS`` with implicit TLS. ``--processes N`` (``SMTPD_PROCESSES``;
default one per CPU) forks N copies sharing the ports through ``SO_REUSEPORT`` so
the kernel spreads connections over cores.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from smtp_ingest.handler import SmtpdConfig
from smtp_ingest.server import SubmissionServer
from smtp_ingest.tls import context_from_settings


class Command(BaseCommand):
    help = "Run the SMTP submission server (AUTH with a server API token)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.SMTPD_HOST)
        parser.add_argument(
            "--port", type=int, action="append", help="STARTTLS port (repeatable)"
        )
        parser.add_argument(
            "--tls-port", type=int, action="append", help="implicit TLS port"
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.SMTPD_PROCESSES,
            help="processes sharing the ports (SO_REUSEPORT); 0 = one per CPU",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ports = options["port"] or settings.SMTPD_PORTS
        tls_ports = options["tls_port"] or settings.SMTPD_TLS_PORTS
        # One event loop per core: each process has its own GIL (measured in
        # docs/benchmarks.md, "SMTP submission").
        processes = max(1, options["processes"] or os.cpu_count() or 1)
        tls_context = context_from_settings()
        self.stdout.write(
            f"SMTP submission on {options['host']}: STARTTLS ports {ports}, "
            f"implicit TLS ports {tls_ports}, {processes} process(es). "
            "Log in with a server API token as username and password."
        )
        self.stdout.flush()
        if processes == 1:
            self._serve(options["host"], ports, tls_ports, tls_context, False)
            return
        connections.close_all()  # never share a database socket across fork()
        children = []
        for _ in range(processes):
            pid = os.fork()
            if pid == 0:
                try:
                    self._serve(options["host"], ports, tls_ports, tls_context, True)
                finally:
                    os._exit(0)
            children.append(pid)

        def forward(signum: int, _frame: Any) -> None:
            for child in children:
                try:
                    os.kill(child, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        for child in children:
            os.waitpid(child, 0)

    def _serve(
        self,
        host: str,
        ports: list[int],
        tls_ports: list[int],
        tls_context: Any,
        reuse_port: bool,
    ) -> None:
        server = SubmissionServer(
            host=host,
            ports=ports,
            tls_ports=tls_ports,
            tls_context=tls_context,
            config=SmtpdConfig.from_settings(),
            reuse_port=reuse_port,
        )

        async def main() -> None:
            await server.start()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
            await server.stop()

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            sys.exit(0)
