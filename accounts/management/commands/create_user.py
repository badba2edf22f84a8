"""Create a web UI user (or reset its password) with access to one account.

echo "$PASSWORD" | python manage.py create_user ops@example.com --account 1 --password-stdin
"""

from __future__ import annotations

import getpass
import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account, Membership
from accounts.services import user_create
from postmark_clone.errors import ApplicationError


class Command(BaseCommand):
    help = "Create a web UI user for an account (idempotent: updates the password)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--account", type=int, required=True, help="Account id")
        parser.add_argument(
            "--role", choices=Membership.Role.values, default=Membership.Role.ADMIN
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of standard input "
            "(keeps it out of the process list and shell history).",
        )

    def handle(self, *args, **options) -> None:
        account = Account.objects.filter(id=options["account"]).first()
        if account is None:
            raise CommandError(f"No account with id {options['account']}.")
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Repeat password: "):
                raise CommandError("The passwords differ.")
        else:
            raise CommandError("Pass --password-stdin to read the password from stdin.")
        if not password:
            raise CommandError("The password is empty.")
        try:
            membership = user_create(
                email=options["email"],
                account=account,
                password=password,
                role=options["role"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"User {membership.user.email} is {membership.role} of account "
            f"{account.id} ({account.name}). Sign in at /ui/login."
        )
