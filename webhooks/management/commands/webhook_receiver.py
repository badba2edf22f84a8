"""``python manage.py webhook_receiver``: a development endpoint for tenant
webhooks. Prints each POST as one JSON line (record type, trace id, whether the
``X-PM-Signature`` verifies) and answers 200, or ``--status``.

Point a webhook at it (``POST /webhooks`` with ``Url`` ``http://127.0.0.1:8025/``
and ``WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`` on the worker) to watch events in
``make run``.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webhooks import signature


def describe_request(
    *, headers: dict[str, str], body: bytes, secret: str
) -> dict[str, Any]:
    """What the receiver prints for one request. Pure."""
    try:
        payload: Any = json.loads(body)
    except ValueError:
        payload = body.decode("utf-8", "replace")
    header = headers.get(signature.HEADER, "")
    return {
        "RecordType": payload.get("RecordType") if isinstance(payload, dict) else None,
        "TraceId": headers.get("X-PM-Webhook-Trace-Id", ""),
        "RetriesRemaining": headers.get("X-PM-Retries-Remaining", ""),
        "SignatureValid": (
            signature.verify(secret=secret, body=body, header=header)
            if secret and header
            else None
        ),
        "Payload": payload,
    }


class Command(BaseCommand):
    help = "Receive tenant webhooks locally and print them (development)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument(
            "--secret", default="", help="the webhook's SigningSecret, to verify"
        )
        parser.add_argument("--status", type=int, default=200, help="HTTP answer")

    def handle(self, *args: Any, **options: Any) -> None:
        secret, status = options["secret"], options["status"]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                line = describe_request(
                    headers=dict(self.headers.items()), body=body, secret=secret
                )
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((options["host"], options["port"]), Handler)
        self.stdout.write(
            f"webhook receiver on http://{options['host']}:{options['port']}/"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
