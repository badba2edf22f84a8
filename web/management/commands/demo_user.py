"""Create (or reset) the demo web UI user for `make run` and print how to sign in.

Refuses unless DEBUG is on or ``--force`` is given: a known demo login must not
appear on a production instance by accident.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account, Membership
from accounts.services import user_create

DEMO_EMAIL = "demo@example.com"


class Command(BaseCommand):
    help = "Create or reset the demo web UI user and print its credentials."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", type=int, help="Account id (default: first)")
        parser.add_argument("--email", default=DEMO_EMAIL)
        parser.add_argument(
            "--force", action="store_true", help="Allow with DEBUG off (local runs)."
        )

    def handle(self, *args, **options) -> None:
        if not (settings.DEBUG or options["force"]):
            raise CommandError("Refusing without DEBUG; pass --force for a local run.")
        qs = Account.objects.order_by("id")
        account = (
            qs.filter(id=options["account"]).first()
            if options["account"]
            else qs.first()
        )
        if account is None:
            raise CommandError("No account yet: run `manage.py demo_setup` first.")
        password = secrets.token_urlsafe(12)
        user_create(
            email=options["email"],
            account=account,
            password=password,
            role=Membership.Role.ADMIN,
        )
        site = settings.SITE_URL.rstrip("/")
        self.stdout.write(
            f"Web UI: {site}/ui/  sign in as {options['email']} / {password}"
        )
