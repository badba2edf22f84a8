"""Append-only bulk inserts for the submission hot paths.

``Writes`` does what ``QuerySet.bulk_create`` does for plain
new rows, with fewer round trips and less CPU on PostgreSQL: primary keys come
from a per-process pool reserved from the table's sequence, small inserts are
sent together with the transaction's other statements in one query, and large
ones with ``COPY ... FROM STDIN``. Django's
``bulk_create`` builds one ``INSERT`` with a parameter per column and row
(12,000 for a batch of 500 messages) that psycopg binds on the client and the
server parses again: it was a third of the CPU of ``POST /email/batch``. COPY
streams the rows in PostgreSQL's text format, which psycopg's C dumpers write.

Other databases (SQLite in development) use ``bulk_create``. Either way the
objects come back with their primary keys set and marked as saved, as after
``bulk_create``.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models
from psycopg.types.json import Jsonb

# Field classes whose database value is the Python value itself for these
# types (what ``get_db_prep_save`` would return on PostgreSQL); everything
# else (JSON, naive datetimes, decimals...) goes through ``get_db_prep_save``.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.UUIDField,
    models.DateTimeField,
    models.ForeignKey,
)
_PLAIN_TYPES = frozenset({str, int, bool, uuid.UUID})


def _converter(field: models.Field) -> Callable[[Any], Any]:
    prep = field.get_db_prep_save
    if not isinstance(field, _PLAIN_FIELDS) or isinstance(field, models.JSONField):
        return lambda value: prep(value, connection)

    def convert(value: Any) -> Any:
        kind = type(value)
        if value is None or kind in _PLAIN_TYPES:
            return value
        if kind is datetime and value.tzinfo is not None:
            return value
        return prep(value, connection)

    return convert


# At or above this many rows an insert is sent with COPY (executed at once);
# below it, as one multi-row INSERT that can share a round trip with others.
COPY_MIN_ROWS = 32
# Primary keys reserved per round trip when a process's pool runs dry.
KEY_BLOCK = 256


class _KeyPool:
    """Primary keys taken from a table's sequence ahead of use, per process.

    One ``nextval`` round trip reserves a block; rows then get their keys with
    no database call, so their ``INSERT`` needs no ``RETURNING`` and can travel
    with other statements. Keys are unique (each came from ``nextval``) but,
    across processes, not in insertion order; nothing orders rows by key alone
    (searches sort by ``received_at`` first). Keys left in a pool when a process
    exits are simply never used.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.keys: collections.deque[int] = collections.deque()

    def take(self, table: str, column: str, count: int) -> list[int]:
        with self.lock:
            if self.pid != os.getpid():  # forked: the parent's keys are not ours
                self.pid, self.keys = os.getpid(), collections.deque()
            missing = count - len(self.keys)
            if missing > 0:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                        "FROM generate_series(1, %s)",
                        [table, column, max(missing, KEY_BLOCK)],
                    )
                    self.keys.extend(key for (key,) in cursor.fetchall())
            return [self.keys.popleft() for _ in range(count)]


_pools: dict[str, _KeyPool] = collections.defaultdict(_KeyPool)


@functools.cache
def _plan(
    model: type[models.Model],
) -> tuple[list[str], list[str], str, list[Callable]]:
    """(attnames, column names, quoted column list, converters) of every
    column, key first."""
    fields = [model._meta.pk] + [
        f for f in model._meta.concrete_fields if not f.primary_key
    ]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    return (
        [f.attname for f in fields],
        [f.column for f in fields],
        columns,
        [_converter(f) for f in fields],
    )


def _json_value(value: Any) -> Any:
    """JSON for the database values ``json.dumps`` does not know."""
    if isinstance(value, Jsonb):
        return value.obj
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


class Writes:
    """Inserts and other statements of one transaction, sent together.

    On PostgreSQL, ``insert`` reserves keys from a per-process pool and, for
    small inserts, only queues an ``INSERT``; ``add`` queues any statement;
    ``send`` executes everything queued as one multi-statement query (one round
    trip; Django's psycopg cursor binds parameters on the client). Large inserts
    go out at once with COPY. Foreign keys are checked at commit (Django creates
    them ``DEFERRABLE INITIALLY DEFERRED``), so the order inside a round trip
    does not matter. Elsewhere (SQLite) every call executes at once.
    """

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"
        self.sql: list[str] = []
        self.params: list[Any] = []
        self.queries = 0

    def insert(self, model: type[models.Model], objs: Sequence[models.Model]) -> None:
        """Insert new ``objs`` (no keys yet) and set their keys. Field values
        are taken as constructed; ``pre_save`` hooks such as ``auto_now`` do
        not run (the hot-path models set their timestamps explicitly)."""
        if not objs:
            return
        if not self.postgres:
            model.objects.bulk_create(objs)
            return
        meta = model._meta
        keys = _pools[meta.db_table].take(meta.db_table, meta.pk.column, len(objs))
        attnames, names, columns, converters = _plan(model)
        for obj, key in zip(objs, keys, strict=True):
            setattr(obj, meta.pk.attname, key)
            obj._state.adding = False
            obj._state.db = connection.alias
        pairs = list(zip(attnames, converters, strict=True))
        rows = [
            [convert(obj.__dict__[name]) for name, convert in pairs] for obj in objs
        ]
        table = connection.ops.quote_name(meta.db_table)
        if len(rows) < COPY_MIN_ROWS:
            # The rows travel as one JSON parameter: the statement text stays
            # the same whatever the values, so psycopg reuses its parsed form
            # (it re-parses statements with over 50 parameters every time), and
            # there is one value to quote instead of one per column and row.
            payload = json.dumps(
                [dict(zip(names, row, strict=True)) for row in rows],
                default=_json_value,
                ensure_ascii=False,
            )
            self.add(
                f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608
                f"FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)",
                [payload],
            )
            return
        sql = f"COPY {table} ({columns}) FROM STDIN"  # noqa: S608
        # ``cursor.cursor`` is psycopg's own cursor under Django's wrapper;
        # errors are translated to Django's (IntegrityError...) as usual.
        with connection.cursor() as cursor:
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)

    def query(self, sql: str, params: Sequence[Any]) -> None:
        """Queue a statement whose rows ``send`` returns (PostgreSQL only).
        Queries must be queued before any other statement."""
        if not self.postgres:
            raise NotImplementedError("Writes.query needs PostgreSQL")
        if len(self.sql) != self.queries:
            raise ValueError("queue queries before other statements")
        self.add(sql, params)
        self.queries += 1

    def add(self, sql: str, params: Sequence[Any]) -> None:
        """Queue one statement (``%s`` placeholders, no trailing semicolon)."""
        if not self.postgres:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
            return
        self.sql.append(sql)
        self.params.extend(params)

    def send(self) -> list[list[tuple]]:
        """Execute what is queued, in one round trip; return the rows of each
        ``query``, in order."""
        found: list[list[tuple]] = []
        if not self.sql:
            return found
        sql, params, queries = ";\n".join(self.sql), self.params, self.queries
        self.sql, self.params, self.queries = [], [], 0
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for number in range(queries):
                if number:
                    cursor.nextset()
                found.append(cursor.fetchall())
        return found
