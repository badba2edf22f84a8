"""The recipient address dictionary (``RecipientAddress``) for fragment search.

A recipient fragment (``alice.0``, ``bob``) is first matched against the
server's distinct addresses, then searched as those exact addresses on
``rcpt_address_received`` (see ``messages/selectors.py``). PostgreSQL only:

* ``mail_recipient_address_track``: a statement-level ``AFTER INSERT`` trigger
  on ``mail_recipient`` (so ``bulk_create`` and ``COPY`` pay one extra statement
  per insert, not one per row). It reads the inserted rows from the transition
  table, skips addresses already known and seen within a day (a plain MVCC read:
  no row lock for the common case), and upserts the rest, in a fixed order so
  two concurrent sends cannot deadlock on the dictionary;
* a trigram GIN index on the address (``ILIKE '%fragment%'``);
* a backfill from the existing recipient rows.

The migration is not atomic: the trigger is live before the backfill starts,
and the backfill is one ``INSERT ... SELECT`` that never blocks sending (it
takes no lock that an insert into ``mail_recipient`` waits for), so no address
is missed on a live system. The GIN index is built ``CONCURRENTLY`` after the
backfill. SQLite (``make run``) gets the table only; it is never read there.
"""

import django.db.models.deletion
from django.db import migrations, models

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION mail_recipient_address_track() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mail_recipientaddress (server_id, email, last_seen)
    SELECT DISTINCT ON (n.server_id, lower(n.email))
           n.server_id, lower(n.email), coalesce(n.received_at, now())
    FROM new_recipients n
    WHERE n.server_id IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM mail_recipientaddress a
          WHERE a.server_id = n.server_id AND a.email = lower(n.email)
            AND a.last_seen >= coalesce(n.received_at, now()) - interval '1 day'
      )
    ORDER BY n.server_id, lower(n.email), coalesce(n.received_at, now()) DESC
    ON CONFLICT (server_id, email) DO UPDATE SET last_seen = excluded.last_seen
        WHERE mail_recipientaddress.last_seen < excluded.last_seen;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS mail_recipient_address_track ON mail_recipient;
CREATE TRIGGER mail_recipient_address_track
    AFTER INSERT ON mail_recipient
    REFERENCING NEW TABLE AS new_recipients
    FOR EACH STATEMENT EXECUTE FUNCTION mail_recipient_address_track();
"""

BACKFILL_SQL = """
INSERT INTO mail_recipientaddress (server_id, email, last_seen)
SELECT server_id, lower(email), max(coalesce(received_at, now()))
FROM mail_recipient
WHERE server_id IS NOT NULL
GROUP BY server_id, lower(email)
ORDER BY server_id, lower(email)
ON CONFLICT (server_id, email) DO UPDATE SET last_seen = excluded.last_seen
    WHERE mail_recipientaddress.last_seen < excluded.last_seen
"""

INDEX_SQL = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS rcptaddr_email_trgm "
    "ON mail_recipientaddress USING gin (email gin_trgm_ops)"
)


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS mail_recipient_address_track ON mail_recipient;"
            "DROP FUNCTION IF EXISTS mail_recipient_address_track();"
        )


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL_SQL)


def add_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX_SQL)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS rcptaddr_email_trgm")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0002_webui_membership"),
        ("mail", "0004_delivery_route_health"),
    ]

    operations = [
        migrations.CreateModel(
            name="RecipientAddress",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("email", models.CharField(max_length=320)),
                ("last_seen", models.DateTimeField()),
                (
                    "server",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.server",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("server", "email"), name="rcptaddr_server_email"
                    )
                ],
            },
        ),
        migrations.RunPython(add_trigger, drop_trigger),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.RunPython(add_index, drop_index),
    ]
