"""``manage.py purge_archive``: run the retention purge now (operators, cron)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from messages.retention import DEFAULT_BATCH_SIZE, archive_purge


class Command(BaseCommand):
    help = (
        "Delete messages (rows, events, raw MIME) and recipient addresses past "
        "each server's retention period, and the raw MIME of content-free "
        "servers' finished messages."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument(
            "--max-batches", type=int, default=None, help="stop after N batches"
        )
        parser.add_argument(
            "--max-seconds", type=float, default=None, help="stop after N seconds"
        )
        parser.add_argument(
            "--server",
            type=int,
            action="append",
            dest="servers",
            default=None,
            help="only this server id (repeatable)",
        )

    def handle(self, *args, **options) -> None:
        result = archive_purge(
            batch_size=options["batch_size"],
            max_batches=options["max_batches"],
            max_seconds=options["max_seconds"],
            server_ids=options["servers"],
        )
        self.stdout.write(
            f"deleted {result.messages_deleted} messages, "
            f"{result.objects_deleted} archive objects and "
            f"{result.addresses_deleted} recipient addresses; cleared content of "
            f"{result.contents_cleared} messages in {result.batches} batches"
            + ("" if result.complete else " (budget reached; run again to continue)")
        )
