"""``manage.py sink``: the development SMTP sink (see docs/sink.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from messages.sink import SinkState, sink_serve


class Command(BaseCommand):
    help = "Run the development SMTP sink that accepts and keeps outbound mail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.SINK_HOST)
        parser.add_argument("--port", type=int, default=settings.SINK_PORT)
        parser.add_argument("--dir", default=str(settings.SINK_DIR))
        parser.add_argument(
            "--keep",
            choices=["all", "index", "none"],
            default="all",
            help="all: index.jsonl + .eml files; index: index.jsonl only; "
            "none: keep nothing (benchmarks)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        keep = options["keep"]
        state = SinkState(
            directory=None if keep == "none" else Path(options["dir"]),
            write_eml=keep == "all",
        )

        async def main() -> None:
            server = await sink_serve(state, options["host"], options["port"])
            where = (
                "nothing kept"
                if keep == "none"
                else f"keeping {keep} in {options['dir']}"
            )
            self.stdout.write(
                f"sink listening on {options['host']}:{options['port']} ({where})"
            )
            async with server:
                await server.serve_forever()

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            pass
