"""``manage.py demo_setup``: the demo tenant for ``make run`` (idempotent).

Creates (or finds) account "Demo", server "Demo Server", the sender domain
``settings.DEMO_DOMAIN`` and the web UI user demo@example.com, then prints the
server token and a curl line to paste. The token is kept in ``var/demo-token``
(mode 0600) and reused on later runs; see ``accounts.demo``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.demo import SERVER_TOKEN_FILE, demo_ensure


class Command(BaseCommand):
    help = "Create or find the demo account, server, domain and login; print a curl."

    def handle(self, *args, **options) -> None:
        demo = demo_ensure()
        site = settings.SITE_URL.rstrip("/")
        token_file = Path(settings.VAR_DIR) / SERVER_TOKEN_FILE
        body = json.dumps(
            {
                "From": f"Demo <demo@{demo.domain.name}>",
                "To": "someone@example.org",
                "Subject": "Hello from the demo",
                "TextBody": "It works.",
            }
        )
        curl = " ".join(
            [
                "curl",
                shlex.quote(f"{site}/email"),
                "-H 'Accept: application/json'",
                "-H 'Content-Type: application/json'",
                "-H " + shlex.quote(f"X-Postmark-Server-Token: {demo.server_token}"),
                "-d " + shlex.quote(body),
            ]
        )
        self.stdout.write(
            "\n".join(
                [
                    f"Demo account:  {demo.account.name} (ID {demo.account.id})",
                    f"Demo server:   {demo.server.name} (ID {demo.server.id})",
                    f"Sender domain: {demo.domain.name}",
                    f"Server token:  {demo.server_token}   (kept in {token_file})",
                    f"Account token: {demo.account_token}",
                    f"Web UI:        {site}/ui/  login {demo.username} / "
                    f"{demo.password}",
                    "",
                    "Send a message:",
                    curl,
                    "",
                ]
            )
        )
