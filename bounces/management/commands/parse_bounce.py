"""``python manage.py parse_bounce FILE``: classify a raw report for an operator.

Prints one JSON object: ``{Email, Type, TypeCode, Status, Diagnostic,
MessageID}`` (MessageID: our X-PM-Message-Id when the report quotes it, else
the returned message's Message-ID). Reads stdin for ``-``. Touches no database.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from bounces import classify, dsn
from bounces.models import TYPE_CODES


def describe(raw: bytes) -> dict[str, object]:
    report = dsn.parse_report(raw)
    block = report.first_failure or dsn.ReportRecipient()
    verdict = classify.classify_recipient(block, kind=report.kind)
    return {
        "Email": block.email,
        "Type": verdict.type,
        "TypeCode": TYPE_CODES[verdict.type],
        "Status": classify.effective_status(block.status, block.diagnostic),
        "Diagnostic": block.diagnostic,
        "MessageID": report.pm_message_id or report.original_message_id or None,
    }


class Command(BaseCommand):
    help = "Parse a raw bounce/complaint report and print its classification as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="path of the .eml report, or - for stdin")

    def handle(self, *args, **options) -> None:
        path = options["file"]
        try:
            if path == "-":
                raw = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as handle:
                    raw = handle.read()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        self.stdout.write(json.dumps(describe(raw)))
