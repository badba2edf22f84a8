"""``python manage.py parse_bounce FILE [FILE|DIR ...]``: the verdict on raw
reports, for an operator. Touches no database.

Prints one JSON object per file, one per line: for a bounce ``{Bounce: true,
Email, Recipients, Reason, Type, TypeCode, Suppress, Status, Diagnostic, Kind,
MTA, MessageID}`` (MessageID: our X-PM-Message-Id when the report quotes it,
else the returned message's Message-ID); otherwise ``{Bounce: false, Why, ...}``.
With several files (or a directory: its ``*.eml`` files) each object also names
its ``File``. ``-`` reads stdin. Exit status 0; an unreadable file is a
``CommandError``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bounces.engine import analyse


def describe(raw: bytes) -> dict[str, object]:
    """The JSON verdict on one raw report (the same engine as the bounce MX)."""
    return analyse(raw).as_json()


class Command(BaseCommand):
    help = "Classify raw bounce/complaint reports and print one JSON verdict each."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "paths", nargs="+", help=".eml files, directories of them, or - for stdin"
        )

    def handle(self, *args, **options) -> None:
        paths = self._expand(options["paths"])
        several = len(paths) > 1
        for path in paths:
            raw = self._read(path)
            verdict = describe(raw)
            if several:
                verdict = {"File": path, **verdict}
            self.stdout.write(json.dumps(verdict, ensure_ascii=False))

    def _expand(self, paths: list[str]) -> list[str]:
        out: list[str] = []
        for path in paths:
            if path != "-" and Path(path).is_dir():
                found = sorted(str(p) for p in Path(path).rglob("*.eml"))
                if not found:
                    raise CommandError(f"no .eml files in {path}")
                out.extend(found)
            else:
                out.append(path)
        return out

    def _read(self, path: str) -> bytes:
        try:
            if path == "-":
                return sys.stdin.buffer.read()
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
