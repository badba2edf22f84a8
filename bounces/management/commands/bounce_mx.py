"""``python manage.py bounce_mx``: run the bounce MX until interrupted."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from bounces.bounce_mx import bounce_mx_controller


class Command(BaseCommand):
    help = (
        "Receive DSNs, ARF complaints and auto-replies for our VERP return paths, "
        "and inbound mail for servers' inbound addresses "
        "(BOUNCE_MX_HOST:BOUNCE_MX_PORT)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.BOUNCE_MX_HOST)
        parser.add_argument("--port", type=int, default=settings.BOUNCE_MX_PORT)

    def handle(self, *args, **options) -> None:
        controller = bounce_mx_controller(host=options["host"], port=options["port"])
        controller.start()
        self.stdout.write(f"bounce MX listening on {options['host']}:{controller.port}")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        try:
            stop.wait()
        finally:
            controller.stop()
