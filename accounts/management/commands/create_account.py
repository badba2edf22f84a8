"""``manage.py create_account NAME``: bootstrap an account without a UI.

Prints one JSON line, ``{"AccountID": 1, "AccountToken": "..."}``, so scripts can
``jq`` it. The token is shown this once; only its hash is stored.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from accounts.services import account_create


class Command(BaseCommand):
    help = "Create an account and print its id and a new account API token as JSON."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="Display name of the account")

    def handle(self, *args, name: str, **options) -> None:
        name = name.strip()
        if not name or len(name) > 255:
            raise CommandError("NAME must be 1 to 255 characters.")
        created = account_create(name=name)
        self.stdout.write(
            json.dumps({"AccountID": created.obj.id, "AccountToken": created.token})
        )
