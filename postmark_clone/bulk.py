"""Append-only bulk inserts for the submission hot paths.

``bulk_insert`` does what ``QuerySet.bulk_create`` does for plain new rows, but
on PostgreSQL it sends them with ``COPY ... FROM STDIN`` after reserving their
primary keys from the table's sequence in one round trip. Django's
``bulk_create`` builds one ``INSERT`` with a parameter per column and row
(12,000 for a batch of 500 messages) that psycopg binds on the client and the
server parses again: it was a third of the CPU of ``POST /email/batch``. COPY
streams the rows in PostgreSQL's text format, which psycopg's C dumpers write.

Other databases (SQLite in development) use ``bulk_create``. Either way the
objects come back with their primary keys set and marked as saved, as after
``bulk_create``.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models

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


# Below this many rows one multi-row ``INSERT ... RETURNING`` is cheaper: COPY
# needs a round trip for the keys and two for the copy itself.
COPY_MIN_ROWS = 32


@functools.cache
def _plan(model: type[models.Model]) -> tuple[list[str], str, list[Callable]]:
    """(attnames, quoted column list, converters) of every non-key column."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    return [f.attname for f in fields], columns, [_converter(f) for f in fields]


def bulk_insert(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert new ``objs`` of ``model`` (no primary keys yet) and set their keys;
    call inside a transaction. Field defaults are those of the objects as
    constructed; ``pre_save`` hooks such as ``auto_now`` are not run (the
    hot-path models set their timestamps explicitly)."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    attnames, columns, converters = _plan(model)
    pairs = list(zip(attnames, converters, strict=True))
    rows = [[convert(obj.__dict__[name]) for name, convert in pairs] for obj in objs]
    with connection.cursor() as cursor:
        if len(objs) < COPY_MIN_ROWS:
            one = "(" + ", ".join(["%s"] * len(attnames)) + ")"
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608
                + ", ".join([one] * len(rows))
                + f" RETURNING {connection.ops.quote_name(meta.pk.column)}",
                [value for row in rows for value in row],
            )
            keys = [key for (key,) in cursor.fetchall()]
        else:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                "FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, len(objs)],
            )
            keys = [key for (key,) in cursor.fetchall()]
            pk_column = connection.ops.quote_name(meta.pk.column)
            sql = f"COPY {table} ({pk_column}, {columns}) FROM STDIN"  # noqa: S608
            # ``cursor.cursor`` is psycopg's own cursor under Django's wrapper;
            # errors are translated to Django's (IntegrityError...) as usual.
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                for key, row in zip(keys, rows, strict=True):
                    copy.write_row([key, *row])
    for obj, key in zip(objs, keys, strict=True):
        setattr(obj, meta.pk.attname, key)
        obj._state.adding = False
        obj._state.db = connection.alias
