"""Reads for messages. Every lookup takes the server (tenant) and filters by it.

Archive search is built to stay fast at millions of rows (see
docs/architecture.md, "Archive at 100 M messages"):

* every query starts with ``server_id = ? AND message_stream = ?`` and sorts by
  ``received_at DESC, id DESC``, which the composite B-tree indexes in
  ``Message.Meta`` serve as a short backward walk;
* tag and status are equality columns inside those composite indexes;
* ``fromemail`` is resolved against the server's few distinct senders (a loose
  index scan) and becomes an equality on a B-tree; see ``_sender_condition``;
* a complete recipient address is an exact, case-insensitive match read from
  the recipient rows (index ``rcpt_address_received``: tenant, stream,
  lower(email), time), so both the page and the capped count are B-tree range
  scans, and other filters are checked on each row's message by primary key;
* ``@domain`` is an exact match on the recipients' domain (index
  ``rcpt_domain_received``, PostgreSQL), the same way;
* any other recipient fragment (``alice.0``, ``example.com``) is first matched
  against the server's address dictionary (``RecipientAddress``: one row per
  distinct lower-cased address, kept by a PostgreSQL trigger on the recipient
  table, trigram GIN ``rcptaddr_email_trgm``). Up to ``FRAGMENT_ADDRESS_LIMIT``
  (1,000) matching addresses, the search becomes the exact-address search above
  with ``lower(email) IN (...)`` (none: nothing matches); beyond it the page
  is ``recipients_text ILIKE '%term%'`` walking the message time index (broad
  fragments match densely, so the walk is short) and the capped count reads
  the recipient rows of the matching addresses (``_broad_fragment_rows``).
  A fragment with a comma, and SQLite, keep the plain substring search;
* the subject is ``ILIKE '%term%'`` on the column itself, which PostgreSQL
  answers from the pg_trgm GIN indexes (migration ``archive_indexes``);
  Django's ``icontains`` would wrap the column in ``UPPER()`` and miss them;
* metadata is one ``metadata @> {...}`` containment test (jsonb GIN);
* ``TotalCount`` is exact up to ``COUNT_CAP`` (10,000) and reported as 10,000
  beyond: Postmark refuses ``count + offset > 10,000`` so nobody can page past
  that, and counting a million matching rows is the one thing no index makes
  cheap. The count also has a time budget (``ARCHIVE_COUNT_BUDGET_MS``); past
  it, broad substring/metadata searches answer the planner's estimate (see
  ``_total``). Counts driven by recipient rows count distinct messages (an
  address can be in To and Cc, two matching addresses in one message).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Literal

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import (
    CharField,
    Count,
    Func,
    Lookup,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Lower

from accounts.models import Server

from .archive import archive_get
from .models import Message, MessageEvent, Recipient, RecipientAddress

# Exact counts stop here; paging cannot go further (count + offset <= 10,000).
COUNT_CAP = 10_000

# Postmark's ``status`` filter values → our stored statuses. Postmark treats
# "sent" and "processed" as the same thing: the message left the queue, whatever
# happened to its recipients afterwards, so a message that only bounced is
# "processed" too. "failed" is an extension (postmark-python knows the value).
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "queued": (Message.Status.QUEUED,),
    "sent": (Message.Status.SENT, Message.Status.FAILED),
    "processed": (Message.Status.SENT, Message.Status.FAILED),
    "failed": (Message.Status.FAILED,),
}


class ILikeContains(Lookup):
    """``column ILIKE '%value%'`` with LIKE wildcards in ``value`` escaped.

    Written on the bare column so PostgreSQL can use a ``gin_trgm_ops`` index
    (pg_trgm supports ILIKE); SQLite's LIKE is already case-insensitive.
    """

    lookup_name = "ilike_contains"

    def _parts(self, compiler, conn):
        lhs, lhs_params = self.process_lhs(compiler, conn)
        value = str(self.rhs)
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return lhs, [*lhs_params, f"%{escaped}%"]

    def as_sql(self, compiler, conn):
        lhs, params = self._parts(compiler, conn)
        return f"{lhs} LIKE %s ESCAPE '\\'", params

    def as_postgresql(self, compiler, conn):
        lhs, params = self._parts(compiler, conn)
        return f"{lhs} ILIKE %s", params


CharField.register_lookup(ILikeContains)
TextField.register_lookup(ILikeContains)


@dataclass
class MessageFilters:
    """Postmark's ``GET /messages/outbound`` filters (all optional).

    ``fromdate``/``todate`` are inclusive bounds (the edge turns Postmark's
    Eastern-time dates into aware datetimes). ``status`` is one of
    ``STATUS_FILTERS``; ``messagestream`` defaults to ``outbound`` like Postmark.
    """

    recipient: str = ""
    fromemail: str = ""
    tag: str = ""
    status: str = ""
    fromdate: datetime | None = None
    todate: datetime | None = None
    subject: str = ""
    messagestream: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


_NOTHING = None  # a condition list that can match no row


def _message_conditions(
    *, server: Server, stream: str, filters: MessageFilters
) -> list[tuple[str, Any]] | None:
    """Message-side filters (everything but recipient and stream) as Django
    lookups, or ``None`` when nothing can match. Plain ``(lookup, value)`` pairs
    so they apply to ``Message`` or, prefixed ``message__``, to the recipient
    rows that drive an address search."""
    conditions: list[tuple[str, Any]] = []
    if filters.fromemail:
        sender = _sender_condition(server=server, stream=stream, term=filters.fromemail)
        if sender is None:
            return _NOTHING
        conditions.append(sender)
    if filters.tag:
        conditions.append(("tag", filters.tag))
    if filters.status:
        statuses = STATUS_FILTERS.get(filters.status.lower())
        if statuses is None:
            # The edge validates; an unknown value matches nothing here.
            return _NOTHING
        conditions.append(("status__in", statuses))
    if filters.fromdate:
        conditions.append(("received_at__gte", filters.fromdate))
    if filters.todate:
        conditions.append(("received_at__lte", filters.todate))
    if filters.subject:
        conditions.append(("subject__ilike_contains", filters.subject))
    if filters.metadata and connection.vendor == "postgresql":
        # One ``@>`` containment test, served by the jsonb_path_ops GIN index.
        metadata = {str(k): str(v) for k, v in filters.metadata.items()}
        conditions.append(("metadata__contains", metadata))
    return conditions


def _filtered(
    *,
    server: Server,
    filters: MessageFilters,
    target: _Target | None | Literal["unknown"] = "unknown",
) -> QuerySet[Message]:
    """The server's messages matching ``filters`` (recipient ``target`` as
    resolved by ``_recipient_target``, if the caller already did)."""
    stream = (filters.messagestream or "outbound").lower()
    qs: QuerySet[Message] = Message.objects.filter(server=server, message_stream=stream)
    if target == "unknown":
        target = _recipient_target(filters.recipient, server=server)
    if target:
        rows = _address_rows(
            server=server, stream=stream, target=target, filters=filters
        )
        qs = qs.filter(id__in=rows.values("message_id"))
    elif filters.recipient:
        # Any other fragment (part of a name or domain): substring search on the
        # lower-cased recipient list, served by the trigram index.
        qs = qs.filter(
            recipients_text__ilike_contains=filters.recipient.strip().lower()
        )
    conditions = _message_conditions(server=server, stream=stream, filters=filters)
    if conditions is None:
        return qs.none()
    for lookup, value in conditions:
        qs = qs.filter(**{lookup: value})
    if filters.metadata and connection.vendor != "postgresql":
        # SQLite (``make run``) has no JSON containment; compare key by key.
        for index, (key, value) in enumerate(filters.metadata.items()):
            alias = f"_meta_{index}"
            text = Cast(KeyTextTransform(str(key), "metadata"), CharField())
            qs = qs.alias(**{alias: text}).filter(**{alias: str(value)})
    return qs


def _sender_condition(
    *, server: Server, stream: str, term: str
) -> tuple[str, Any] | None:
    """``fromemail`` substring filter, resolved against the server's senders.

    A server sends from a handful of addresses, so a trigram index is the wrong
    tool (every row of the popular sender shares its trigrams). Instead the
    distinct senders are read with a loose index scan over
    ``msg_stream_from_received`` (one probe per sender), matched in Python, and
    the search becomes ``from_email IN (...)`` on the same B-tree. Servers with
    more than ``SENDER_SCAN_LIMIT`` senders fall back to trigram ILIKE.
    ``None`` means no sender matches.
    """
    term = term.lower()
    senders = _distinct_senders(server=server, stream=stream)
    if senders is None:
        return ("from_email__ilike_contains", term)
    matching = [sender for sender in senders if term in sender]
    if not matching:
        return None
    if len(matching) == 1:
        return ("from_email", matching[0])
    return ("from_email__in", matching)


SENDER_SCAN_LIMIT = 200


def _distinct_senders(*, server: Server, stream: str) -> list[str] | None:
    """The stream's distinct ``from_email`` values, or ``None`` if there are more
    than ``SENDER_SCAN_LIMIT``. PostgreSQL only (a recursive skip scan); other
    databases answer ``None`` and use the ILIKE path."""
    if connection.vendor != "postgresql":
        return None
    sql = """
        WITH RECURSIVE senders(email) AS (
            (SELECT from_email FROM mail_message
             WHERE server_id = %(server)s AND message_stream = %(stream)s
             ORDER BY from_email LIMIT 1)
            UNION ALL
            SELECT (SELECT m.from_email FROM mail_message m
                    WHERE m.server_id = %(server)s AND m.message_stream = %(stream)s
                      AND m.from_email > s.email
                    ORDER BY m.from_email LIMIT 1)
            FROM senders s WHERE s.email IS NOT NULL
        )
        SELECT email FROM senders WHERE email IS NOT NULL LIMIT %(limit)s
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {"server": server.pk, "stream": stream, "limit": SENDER_SCAN_LIMIT + 1},
        )
        senders = [row[0] for row in cursor.fetchall()]
    return None if len(senders) > SENDER_SCAN_LIMIT else senders


# How a recipient term is searched; see ``_recipient_target``.
_Target = tuple[str, str] | tuple[str, list[str]] | tuple[str, QuerySet]

_ADDRESS = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")


def _recipient_target(term: str, *, server: Server) -> _Target | None:
    """How to search recipient ``term`` for this server:

    * ``("address", a)`` for one complete address;
    * ``("domain", d)`` for ``@domain`` (PostgreSQL);
    * ``("addresses", [a, ...])`` for any other fragment that the server's
      address dictionary resolves to at most ``FRAGMENT_ADDRESS_LIMIT``
      addresses (PostgreSQL; an empty list means nothing can match);
    * ``None`` otherwise: a substring search on ``recipients_text``.
    """
    term = term.strip().lower()
    if _ADDRESS.match(term):
        return ("address", term)
    if connection.vendor != "postgresql" or not term:
        return None
    if term.startswith("@") and _DOMAIN.match(term[1:]):
        return ("domain", term[1:])
    if not _uses_dictionary(term):
        return None
    matching = _fragment_addresses(server=server, fragment=term)
    if matching is None:
        return None
    if len(matching) == 1:
        return ("address", matching[0])
    return ("addresses", matching)


FRAGMENT_ADDRESS_LIMIT = 1000


def _uses_dictionary(term: str) -> bool:
    """Whether a recipient fragment can be answered from the address
    dictionary: PostgreSQL (the trigger that fills it), and no comma (a comma
    could span two recipients of ``recipients_text``; no single address
    contains it, so only the substring search answers it faithfully)."""
    term = term.strip()
    return connection.vendor == "postgresql" and bool(term) and "," not in term


def _fragment_addresses(*, server: Server, fragment: str) -> list[str] | None:
    """The server's known recipient addresses containing ``fragment``, or
    ``None`` if there are more than ``FRAGMENT_ADDRESS_LIMIT``.

    Read from ``RecipientAddress`` (a trigger keeps it a superset of the
    server's recipient addresses, lower-cased; trigram GIN
    ``rcptaddr_email_trgm``), which is one row per address rather than per
    message, so even a fragment matching a popular address costs a few
    milliseconds. PostgreSQL only.
    """
    addresses = _known_addresses(server=server, fragment=fragment).values_list(
        "email", flat=True
    )
    matching = sorted(addresses[: FRAGMENT_ADDRESS_LIMIT + 1])
    return None if len(matching) > FRAGMENT_ADDRESS_LIMIT else matching


def _email_domain() -> Func:
    # Matches the expression of index rcpt_domain_received (migration 0003).
    return Func(
        Lower("email"),
        Value("@"),
        Value(2),
        function="split_part",
        output_field=CharField(),
    )


def _address_rows(
    *,
    server: Server,
    stream: str,
    target: _Target,
    filters: MessageFilters,
) -> QuerySet[Recipient]:
    """Recipient rows of an address, a list (or subquery) of addresses, or
    ``@domain`` in this server's stream (indexes ``rcpt_address_received`` /
    ``rcpt_domain_received``: tenant, stream, lower(email) or its domain,
    time)."""
    kind, value = target
    key = _email_domain() if kind == "domain" else Lower("email")
    lookup = "_target__in" if kind == "addresses" else "_target"
    rows = (
        Recipient.objects.filter(server=server, message_stream=stream)
        .alias(_target=key)
        .filter(**{lookup: value})
    )
    if filters.fromdate:
        rows = rows.filter(received_at__gte=filters.fromdate)
    if filters.todate:
        rows = rows.filter(received_at__lte=filters.todate)
    return rows


def _search_by_address(
    *,
    server: Server,
    filters: MessageFilters,
    target: _Target,
    conditions: list[tuple[str, Any]],
    count: int,
    offset: int,
) -> tuple[int, list[Message]]:
    """Address, ``@domain`` or dictionary-resolved fragment searches, driven by
    the recipient index.

    The recipient rows come in send order from ``rcpt_address_received`` /
    ``rcpt_domain_received``; any other filters are checked on each row's
    message through its primary key (a nested loop that stops after the page).
    With no other filter, page and count never touch a message beyond the page.
    A list of addresses (a fragment) is an ``= ANY(...)`` index condition: the
    rows of all of them are read (index-only) and sorted, so
    ``FRAGMENT_ADDRESS_LIMIT`` bounds that work (≈ 30 ms for 900 addresses and
    9,000 rows at 2 M messages, docs/benchmarks.md).
    """
    stream = (filters.messagestream or "outbound").lower()
    rows = _address_rows(server=server, stream=stream, target=target, filters=filters)
    for lookup, value in conditions:
        rows = rows.filter(**{f"message__{lookup}": value})
    ordered = (
        rows.order_by("-received_at", "-message_id")
        .values_list("received_at", "message_id")
        .distinct()  # an address can be in To and Cc of one message
    )
    ids = [message_id for _at, message_id in ordered[offset : offset + count]]
    by_id = Message.objects.filter(server=server).in_bulk(ids)
    page = [by_id[message_id] for message_id in ids if message_id in by_id]
    if len(ids) < count and (ids or offset == 0):
        return offset + len(ids), page
    return _total(ordered, seen=offset + len(ids)), page


def message_search(
    *, server: Server, filters: MessageFilters, count: int, offset: int
) -> tuple[int, list[Message]]:
    """``(total, page)`` of the server's messages matching ``filters``, newest first.

    Two queries, both index-backed: the page (``LIMIT count OFFSET offset``) and a
    count that stops at ``COUNT_CAP`` (so ``total`` is exact below 10,000 and
    10,000 at or above it), skipped when the page shows the end, and answered
    by an estimate when it overruns its time budget (``_total``). Address and
    ``@domain`` searches, and fragments the address dictionary resolves to a
    few addresses, start from the recipient index instead of the message
    table (``_search_by_address``). Preconditions: ``1 <= count`` and ``offset >= 0``
    (the edge enforces Postmark's limits). Read-only; safe to call any time.
    """
    target = _recipient_target(filters.recipient, server=server)
    if target == ("addresses", []):
        return 0, []
    if target and (connection.vendor == "postgresql" or not filters.metadata):
        stream = (filters.messagestream or "outbound").lower()
        conditions = _message_conditions(server=server, stream=stream, filters=filters)
        if conditions is None:
            return 0, []
        return _search_by_address(
            server=server,
            filters=filters,
            target=target,
            conditions=conditions,
            count=count,
            offset=offset,
        )
    qs = _filtered(server=server, filters=filters, target=target)
    page = list(qs.order_by("-received_at", "-id")[offset : offset + count])
    if len(page) < count and (page or offset == 0):
        # The last page is in hand, so the total is known: skip the count query.
        return offset + len(page), page
    counter = None
    if _uses_dictionary(filters.recipient):
        # A fragment too broad for the address list (``_recipient_target``):
        # the page above walked the message time index, but counting 10,000
        # trigram matches means re-checking as many heap rows, scattered over
        # the table. Count the recipient rows of the matching dictionary
        # addresses instead, unless the fragment matches so many addresses
        # that its messages are dense (then the trigram count is cheap).
        known = _known_addresses(server=server, fragment=filters.recipient)
        if _estimated_rows(known) <= DENSE_FRAGMENT_ADDRESSES:
            rows = _broad_fragment_rows(server=server, filters=filters, known=known)
            counter = lambda: _distinct_messages(rows)  # noqa: E731
    return _total(qs.order_by(), seen=offset + len(page), count=counter), page


# Past this many matching addresses (planner's estimate) a fragment's messages
# are dense enough that the trigram count finds 10,000 in a few heap pages,
# and the planner would answer the recipient-side count with a sequential
# scan (``company1``: 145 k estimated addresses, 59 ms vs 38 ms at 2 M).
DENSE_FRAGMENT_ADDRESSES = 50_000


def _known_addresses(*, server: Server, fragment: str) -> QuerySet[RecipientAddress]:
    return RecipientAddress.objects.filter(
        server=server, email__ilike_contains=fragment.strip().lower()
    ).values("email")


def _broad_fragment_rows(
    *,
    server: Server,
    filters: MessageFilters,
    known: QuerySet[RecipientAddress],
) -> QuerySet[Recipient]:
    """Recipient rows matching a fragment through the dictionary as a subquery
    (a nested loop: matching addresses, then ``rcpt_address_received`` per
    address, index-only), with the other filters checked on each row's
    message. Only called when ``_message_conditions`` matched something."""
    stream = (filters.messagestream or "outbound").lower()
    rows = _address_rows(
        server=server, stream=stream, target=("addresses", known), filters=filters
    )
    conditions = _message_conditions(server=server, stream=stream, filters=filters)
    for lookup, value in conditions or []:
        rows = rows.filter(**{f"message__{lookup}": value})
    return rows


def _distinct_messages(rows: QuerySet[Recipient]) -> int:
    """Distinct messages among ``rows``, exact up to ``COUNT_CAP``.

    ``SELECT DISTINCT`` would read every matching row before counting; instead
    read ``COUNT_CAP`` rows and a tenth more (the nested loop stops there) and
    count distinct messages among them. A message with two matching recipients
    is read twice, so if duplicates still leave fewer than ``COUNT_CAP`` while
    rows remain, read further (rare; after three tries the lower bound is
    answered).
    """
    ids = rows.order_by().values("message_id")
    limit = COUNT_CAP + COUNT_CAP // 10
    for _attempt in range(3):
        # SELECT count(*), count(DISTINCT message_id) FROM (... LIMIT n)
        seen = ids[:limit].aggregate(
            read=Count("*"), distinct=Count("message_id", distinct=True)
        )
        if seen["read"] < limit or seen["distinct"] >= COUNT_CAP:
            break
        # Scale the read by the duplicates seen so far.
        limit = limit * COUNT_CAP // max(seen["distinct"], 1) + 1
    return min(seen["distinct"], COUNT_CAP)


def _total(qs: QuerySet, *, seen: int, count: Callable[[], int] | None = None) -> int:
    """``TotalCount``: exact up to ``COUNT_CAP`` when that is cheap, else estimated.

    The count runs under a ``statement_timeout`` of ``ARCHIVE_COUNT_BUDGET_MS``
    (PostgreSQL). Selective filters always finish well inside it. A broad
    substring or metadata filter matching tens of thousands of rows can need
    every candidate row read and re-checked just to say "10,000"; when the
    budget runs out, the planner's row estimate (capped at ``COUNT_CAP``) is
    answered instead, never less than ``seen`` plus one (the caller just read a
    full page, so there is more), which keeps ``while offset < TotalCount``
    paging loops going until they reach a short page. ``count``, when given,
    computes the same capped count another way (``qs`` still gives the
    estimate).
    """
    capped = qs[:COUNT_CAP]
    count = count or capped.count
    budget = settings.ARCHIVE_COUNT_BUDGET_MS
    if connection.vendor != "postgresql" or budget <= 0:
        return count()
    try:
        # A savepoint when the caller is in a transaction: a cancelled statement
        # then rolls back only this block (and its SET LOCAL), not the caller's.
        nested = connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [f"{budget}ms"]
            )
            total = count()
            if nested:
                # SET LOCAL outlives a released savepoint: undo it for the caller.
                cursor.execute("SET LOCAL statement_timeout TO DEFAULT")
            return total
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "57014":  # query_canceled
            raise
    estimate = _estimated_rows(capped)
    return max(min(estimate, COUNT_CAP), min(seen + 1, COUNT_CAP))


def _estimated_rows(qs: QuerySet) -> int:
    """The planner's row estimate for ``qs`` (EXPLAIN without running it)."""
    plan = json.loads(qs.explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def message_get(*, server: Server, message_id: str) -> Message | None:
    """The server's message with Postmark ``MessageID``; ``None`` if missing or
    another tenant's (indistinguishable on purpose)."""
    try:
        parsed = uuid.UUID(str(message_id))
    except ValueError:
        return None
    message = Message.objects.filter(server=server, message_id=parsed).first()
    if message is not None:
        message.server = server  # already known; saves a query for its policy
    return message


def message_events(*, message: Message) -> list[MessageEvent]:
    """The message's timeline (delivery, bounce, open, click...), oldest first."""
    return list(message.events.order_by("created_at", "id"))


@dataclass
class MessageContent:
    """What the archive still holds of a message; empty strings when nothing."""

    raw: str = ""
    text_body: str = ""
    html_body: str = ""


def message_content(*, message: Message) -> MessageContent:
    """Read the raw MIME from object storage and pull out its text and HTML parts.

    Empty when the server keeps no content (``store_content=False``; the object
    may still exist while delivery is in progress, but it is never shown) or
    when the object is gone (purged past retention). This is network I/O on S3:
    never call it inside a transaction. Read-only; safe to call twice.
    """
    if not message.server.store_content or not message.archive_key:
        return MessageContent()
    data = archive_get(key=message.archive_key)
    if data is None:
        return MessageContent()
    text, html = _bodies(data)
    return MessageContent(
        raw=data.decode("utf-8", errors="replace"), text_body=text, html_body=html
    )


def _bodies(data: bytes) -> tuple[str, str]:
    """First non-attachment ``text/plain`` and ``text/html`` parts (RFC 2046)."""
    parsed = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    text = html = ""
    for part in parsed.walk():
        if part.is_multipart() or part.is_attachment():
            continue
        content_type = part.get_content_type()
        if content_type not in ("text/plain", "text/html"):
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError):
            # Unknown charset or broken transfer encoding: fall back to bytes.
            payload = part.get_payload(decode=True) or b""
            content = payload.decode("utf-8", errors="replace")
        if not isinstance(content, str):
            continue
        if content_type == "text/plain" and not text:
            text = content
        elif content_type == "text/html" and not html:
            html = content
    return text, html
