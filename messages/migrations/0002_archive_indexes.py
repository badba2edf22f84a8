"""Indexes for archive search (``GET /messages/outbound``) and the retention purge.

The B-tree indexes are portable (SQLite runs them for ``make run``). The GIN
indexes are PostgreSQL-only and are created in ``add_search_gin_indexes`` only
when ``connection.vendor == "postgresql"``:

* ``pg_trgm`` trigram GIN on ``recipients_text``, ``from_email`` and ``subject``,
  so ``ILIKE '%term%'`` is answered from the index instead of a scan;
* ``jsonb_path_ops`` GIN on ``metadata`` for containment (``metadata @> {...}``),
  which is what ``metadata_<key>=<value>`` compiles to.

They are built ``CONCURRENTLY`` (hence ``atomic = False``) so deploying on a
large archive does not block sending.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

GIN_INDEXES = {
    "msg_recipients_trgm": "USING gin (recipients_text gin_trgm_ops)",
    "msg_from_email_trgm": "USING gin (from_email gin_trgm_ops)",
    "msg_subject_trgm": "USING gin (subject gin_trgm_ops)",
    "msg_metadata_gin": "USING gin (metadata jsonb_path_ops)",
}


def add_search_gin_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in GIN_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON mail_message {definition}"
        )


def drop_search_gin_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in GIN_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0001_initial"),
        ("mail", "0001_initial"),
    ]

    operations = [
        # A no-op on SQLite (Django's CreateExtension checks the vendor itself).
        TrigramExtension(),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["server", "message_stream", "-received_at", "-id"],
                name="msg_stream_received",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["server", "message_stream", "tag", "-received_at", "-id"],
                name="msg_stream_tag_received",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["server", "message_stream", "status", "-received_at", "-id"],
                name="msg_stream_status_received",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=[
                    "server",
                    "message_stream",
                    "from_email",
                    "-received_at",
                    "-id",
                ],
                name="msg_stream_from_received",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("archive_key__startswith", "transient/")),
                fields=["server", "id"],
                name="msg_transient_content",
            ),
        ),
        migrations.RunPython(add_search_gin_indexes, drop_search_gin_indexes),
    ]
