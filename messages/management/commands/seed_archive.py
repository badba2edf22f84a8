"""``manage.py seed_archive --messages N [--servers K]``: a realistic fake archive.

For benchmarks and demos. Creates (or reuses) an account "Seed archive" with K
servers and adds N messages spread over the last ``--days`` days, with:

* Zipf-skewed traffic per server (server 1 sends the most), recipients (a few
  addresses receive a large share), senders and tags;
* 1–3 recipients per message, mostly ``Sent``, some ``Failed`` (every recipient
  bounced) and a trickle of ``Queued`` among the newest;
* metadata on most messages (``customer``, ``plan``, sometimes ``order``);
* a Delivered or Bounced event per recipient plus some opens and clicks;
* no raw MIME (metadata search never needs it).

On PostgreSQL rows are streamed with ``COPY`` (psycopg's ``cursor.copy``), and with
``--defer-indexes`` the secondary indexes of the three tables are dropped first
and rebuilt after, which is several times faster for millions of rows. ``COPY``
fires the trigger that fills the recipient address dictionary
(``RecipientAddress``); with ``--defer-indexes`` that trigger is disabled too
and the dictionary is filled in one ``INSERT ... SELECT`` at the end (≈ 3 s
for 1 M recipient rows; the trigger, chunk by chunk, cost 3–15 s per 200 k
messages in our noisy runs). SQLite
falls back to ``bulk_create`` (fine for thousands).
"""

from __future__ import annotations

import bisect
import json
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Account, Server
from messages.models import Message, MessageEvent, Recipient

ACCOUNT_NAME = "Seed archive"
CHUNK = 20_000
TABLES = ("mail_message", "mail_recipient", "mail_messageevent")
ADDRESS_TRIGGER = "mail_recipient_address_track"  # migration 0005
DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "gmx.de",
    "example.org",
    "example.net",
    "acme.test",
] + [f"company{n}.example" for n in range(190)]
FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"]
SUBJECTS = [
    "Your receipt #{n}",
    "Welcome to Acme, {name}!",
    "Reset your password",
    "Invoice {n} is due",
    "Your order {n} has shipped",
    "Weekly digest for {name}",
    "Confirm your email address",
    "New sign-in from {city}",
    "Your trial ends in {d} days",
    "Comment on ticket #{n}",
]
CITIES = ["Berlin", "Lisbon", "Austin", "Osaka", "Lagos", "Lima", "Oslo", "Pune"]
PLANS = ["free", "pro", "team", "enterprise"]
BOUNCE_RATE = 0.03
OPEN_RATE = 0.4
CLICK_RATE = 0.1


def zipf_cumulative(n: int, s: float = 1.1) -> list[float]:
    """Cumulative weights of a Zipf(s) distribution over ``n`` ranks."""
    total = 0.0
    cumulative = []
    for rank in range(1, n + 1):
        total += 1.0 / rank**s
        cumulative.append(total)
    return cumulative


class ZipfPicker:
    def __init__(self, items: list[Any], s: float = 1.1, rng: random.Random = None):
        self.items = items
        self.cumulative = zipf_cumulative(len(items), s)
        self.total = self.cumulative[-1]
        self.rng = rng or random.Random()

    def __call__(self) -> Any:
        point = self.rng.random() * self.total
        return self.items[bisect.bisect_left(self.cumulative, point)]


def recipient_address(rank: int, server_id: int) -> str:
    """Deterministic address for a popularity rank (rank 0 is the most popular).

    Each server (tenant) has its own user base, as in real life: the same rank
    maps to a different domain per server."""
    domain = DOMAINS[(rank + server_id * 37) % len(DOMAINS)]
    return f"{FIRST[rank % len(FIRST)]}.{rank}@{domain}"


class Command(BaseCommand):
    help = "Generate a realistic fake message archive (for benchmarks and demos)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, required=True)
        parser.add_argument("--servers", type=int, default=5)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--recipients",
            type=int,
            default=0,
            help="distinct recipient addresses (default: messages / 4)",
        )
        parser.add_argument(
            "--defer-indexes",
            action="store_true",
            help="PostgreSQL: drop secondary indexes during COPY, rebuild after",
        )

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        total = options["messages"]
        rng = random.Random(options["seed"] + Message.objects.count())
        servers = self._servers(options["servers"])
        generator = _Generator(
            rng=rng,
            servers=servers,
            days=options["days"],
            recipients=options["recipients"] or max(1000, total // 4),
            now=timezone.now(),
        )
        postgres = connection.vendor == "postgresql"
        dropped: list[tuple[str, str]] = []
        deferred = postgres and options["defer_indexes"]
        if deferred:
            dropped = _drop_secondary_indexes()
            _address_trigger(enabled=False)
        try:
            # Rows are written in time order, like a real (append-only) archive,
            # so received_at correlates with the physical order of the heap.
            span = options["days"] * 86400.0
            start = generator.now - timedelta(seconds=span)
            done = 0
            while done < total:
                size = min(CHUNK, total - done)
                times = sorted(
                    start
                    + timedelta(seconds=span * (done + rng.random() * size) / total)
                    for _ in range(size)
                )
                if postgres:
                    _copy_chunk(generator, times)
                else:
                    _bulk_chunk(generator, times)
                done += size
                self.stdout.write(f"  {done}/{total} messages", ending="\r")
        finally:
            if dropped:
                self.stdout.write("\nrebuilding indexes...")
                _recreate_indexes(dropped)
            if deferred:
                _address_trigger(enabled=True)
                self.stdout.write("filling the recipient address dictionary...")
                _fill_address_dictionary()
        if postgres:
            with connection.cursor() as cursor:
                for table in TABLES:
                    cursor.execute(f"VACUUM (ANALYZE) {table}")
        self.stdout.write(
            f"\nseeded {total} messages over {len(servers)} servers "
            f"(ids {[s.id for s in servers]}) in {time.monotonic() - started:.1f}s"
        )

    def _servers(self, count: int) -> list[Server]:
        account = Account.objects.filter(name=ACCOUNT_NAME).first()
        if account is None:
            account = account_services.account_create(name=ACCOUNT_NAME).obj
        servers = list(account.servers.order_by("id"))
        for index in range(len(servers), count):
            servers.append(
                account_services.server_create(
                    account=account, name=f"seed-{index + 1}"
                ).obj
            )
        return servers[:count]


class _Generator:
    """Produces rows as dicts of column values, ids assigned by the caller."""

    def __init__(
        self,
        *,
        rng: random.Random,
        servers: list[Server],
        days: int,
        recipients: int,
        now: datetime,
    ) -> None:
        self.rng = rng
        self.now = now
        self.span = days * 86400.0
        self.server = ZipfPicker(servers, 1.0, rng)
        self.recipient_rank = ZipfPicker(list(range(recipients)), 0.9, rng)
        self.customer = ZipfPicker(list(range(max(100, recipients // 10))), 1.05, rng)
        self.tags = {
            s.id: ZipfPicker([f"tag-{n}" for n in range(50)], 1.2, rng) for s in servers
        }
        self.senders = {
            s.id: ZipfPicker(
                [
                    f"{local}@server{s.id}.example.com"
                    for local in ("noreply", "billing", "support")
                ],
                1.5,
                rng,
            )
            for s in servers
        }

    def message(self, received_at: datetime) -> tuple[dict, list[dict], list[dict]]:
        rng = self.rng
        server = self.server()
        count = 1 if rng.random() < 0.8 else (2 if rng.random() < 0.75 else 3)
        emails = list(
            dict.fromkeys(
                recipient_address(self.recipient_rank(), server.id)
                for _ in range(count)
            )
        )
        age = (self.now - received_at).total_seconds()
        queued = age < 3600 and rng.random() < 0.3
        bounced = [not queued and rng.random() < BOUNCE_RATE for _ in emails]
        if queued:
            status = Message.Status.QUEUED
        elif all(bounced):
            status = Message.Status.FAILED
        else:
            status = Message.Status.SENT
        sender = self.senders[server.id]()
        number = rng.randrange(1, 10_000_000)
        subject = rng.choice(SUBJECTS).format(
            n=number,
            name=emails[0].split(".")[0].title(),
            city=rng.choice(CITIES),
            d=rng.randrange(1, 15),
        )
        metadata: dict[str, str] = {}
        if rng.random() < 0.7:
            metadata["customer"] = f"c-{server.id}-{self.customer()}"
            metadata["plan"] = rng.choice(PLANS)
            if rng.random() < 0.3:
                metadata["order"] = str(number)
        stream = "outbound" if rng.random() < 0.9 else "broadcast"
        message = {
            "message_id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "server_id": server.id,
            "message_stream": stream,
            "source": "api",
            "from_header": f"Acme <{sender}>",
            "from_email": sender,
            "to_header": ", ".join(emails),
            "recipients_text": ",".join(emails),
            "subject": subject,
            "tag": self.tags[server.id]() if rng.random() < 0.8 else "",
            "metadata": metadata,
            "header_message_id": f"{number}.{server.id}@server{server.id}.example.com",
            "size": rng.randrange(2_000, 60_000),
            "status": status,
            "received_at": received_at,
        }
        recipients = []
        events = []
        for email, bounce in zip(emails, bounced, strict=True):
            finished = received_at + timedelta(seconds=rng.random() * 5)
            if queued:
                recipient_status = Recipient.Status.QUEUED
            else:
                recipient_status = (
                    Recipient.Status.BOUNCED if bounce else Recipient.Status.DELIVERED
                )
            recipients.append(
                {
                    "email": email,
                    "status": recipient_status,
                    "attempts": 0 if queued else 1,
                    "next_attempt_at": received_at,
                    "finished_at": None if queued else finished,
                    "last_reply": "" if queued else "250 2.0.0 OK",
                    "server_id": server.id,
                    "message_stream": stream,
                    "received_at": received_at,
                }
            )
            if queued:
                continue
            if bounce:
                events.append(
                    {
                        "recipient": email,
                        "type": MessageEvent.Type.BOUNCED,
                        "details": {
                            "Summary": "550 5.1.1 user unknown",
                            "BounceID": "0",
                        },
                        "created_at": finished,
                    }
                )
                continue
            events.append(
                {
                    "recipient": email,
                    "type": MessageEvent.Type.DELIVERED,
                    "details": {
                        "DeliveryMessage": "250 2.0.0 OK",
                        "DestinationServer": f"mx.{email.split('@')[1]}",
                        "DestinationIP": "192.0.2.10",
                    },
                    "created_at": finished,
                }
            )
            if rng.random() < OPEN_RATE:
                events.append(
                    {
                        "recipient": email,
                        "type": MessageEvent.Type.OPENED,
                        "details": {"Summary": "Opened"},
                        "created_at": finished
                        + timedelta(minutes=rng.randrange(1, 600)),
                    }
                )
                if rng.random() < CLICK_RATE / OPEN_RATE:
                    events.append(
                        {
                            "recipient": email,
                            "type": MessageEvent.Type.LINK_CLICKED,
                            "details": {
                                "Summary": "Clicked",
                                "Link": "https://acme.example.com/a",
                                "ClickLocation": "HTML",
                            },
                            "created_at": finished
                            + timedelta(minutes=rng.randrange(600, 900)),
                        }
                    )
        return message, recipients, events


def _row_builder(model: type[Model]) -> tuple[list[str], Any]:
    """Concrete columns, and a function turning a generated dict into a COPY row.

    Columns the generator does not know (other apps may add NOT NULL fields) get
    the model field's default, computed per row when it is callable (a UUID
    default must not repeat)."""
    fields = list(model._meta.concrete_fields)
    columns = [field.column for field in fields]

    def default(field):
        value = field.get_default()
        if field.get_internal_type() == "JSONField":
            value = json.dumps(value if value is not None else {})
        return value

    static = {
        f.attname: default(f)
        for f in fields
        if not f.has_default() or not callable(f.default)
    }
    dynamic = {f.attname: f for f in fields if f.has_default() and callable(f.default)}

    def build(row: dict) -> list[Any]:
        out = []
        for field in fields:
            name = field.attname
            if name in row:
                out.append(row[name])
            elif name in dynamic:
                out.append(default(dynamic[name]))
            else:
                out.append(static[name])
        return out

    return columns, build


def _reserve_ids(table: str, count: int) -> int:
    """Take ``count`` ids from the table's sequence; returns the first."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [table])
        first = cursor.fetchone()[0]
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
            [table, first + count - 1],
        )
    return first


def _copy_chunk(generator: _Generator, times: list[datetime]) -> None:
    batch = [generator.message(when) for when in times]
    size = len(batch)
    n_recipients = sum(len(r) for _m, r, _e in batch)
    n_events = sum(len(e) for _m, _r, e in batch)
    with transaction.atomic():
        message_id = _reserve_ids("mail_message", size)
        recipient_id = _reserve_ids("mail_recipient", max(n_recipients, 1))
        event_id = _reserve_ids("mail_messageevent", max(n_events, 1))
        messages, recipients, events = [], [], []
        for message, rcpts, evts in batch:
            message["id"] = message_id
            message["metadata"] = json.dumps(message["metadata"])
            messages.append(message)
            for row in rcpts:
                row["id"] = recipient_id
                row["message_id"] = message_id
                recipient_id += 1
                recipients.append(row)
            for row in evts:
                row["id"] = event_id
                row["message_id"] = message_id
                row["details"] = json.dumps(row["details"])
                event_id += 1
                events.append(row)
            message_id += 1
        cursor = connection.cursor()
        raw = cursor.cursor  # psycopg cursor underneath Django's wrapper
        for model, rows in (
            (Message, messages),
            (Recipient, recipients),
            (MessageEvent, events),
        ):
            columns, build = _row_builder(model)
            sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
            with raw.copy(sql) as copy:
                for row in rows:
                    copy.write_row(build(row))


def _bulk_chunk(generator: _Generator, times: list[datetime]) -> None:
    batch = [generator.message(when) for when in times]
    with transaction.atomic():
        messages = Message.objects.bulk_create(
            [Message(**m) for m, _r, _e in batch], batch_size=500
        )
        recipients, events = [], []
        for message, (_m, rcpts, evts) in zip(messages, batch, strict=True):
            recipients += [Recipient(message=message, **row) for row in rcpts]
            events += [MessageEvent(message=message, **row) for row in evts]
        Recipient.objects.bulk_create(recipients, batch_size=500)
        MessageEvent.objects.bulk_create(events, batch_size=500)


def _drop_secondary_indexes() -> list[tuple[str, str]]:
    """Drop every index of the seeded tables except those backing constraints."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef
            FROM pg_indexes i
            WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
              AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname
              )
            """,
            [list(TABLES)],
        )
        dropped = cursor.fetchall()
        for name, _definition in dropped:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    return dropped


def _address_trigger(*, enabled: bool) -> None:
    action = "ENABLE" if enabled else "DISABLE"
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE mail_recipient {action} TRIGGER {ADDRESS_TRIGGER}")


def _fill_address_dictionary() -> None:
    """What the trigger would have written, in one pass (as migration 0005's
    backfill): each server's distinct lower-cased addresses, latest send."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO mail_recipientaddress (server_id, email, last_seen)
            SELECT server_id, lower(email), max(coalesce(received_at, now()))
            FROM mail_recipient
            WHERE server_id IS NOT NULL
            GROUP BY server_id, lower(email)
            ORDER BY server_id, lower(email)
            ON CONFLICT (server_id, email) DO UPDATE SET last_seen = excluded.last_seen
                WHERE mail_recipientaddress.last_seen < excluded.last_seen
            """
        )


def _recreate_indexes(dropped: list[tuple[str, str]]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in dropped:
            cursor.execute(
                definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
            )
