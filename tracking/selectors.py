"""Reads for open and click tracking. Every lookup takes the server (tenant)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet, Sum

from accounts.models import Server
from bounces.models import DailyStat
from messages.models import Message

from .models import Click, Open


@dataclass(frozen=True)
class EventFilters:
    """Postmark's opens/clicks search filters; empty means "any"."""

    recipient: str = ""
    tag: str = ""
    client_name: str = ""
    client_company: str = ""
    client_family: str = ""
    os_name: str = ""
    os_family: str = ""
    os_company: str = ""
    platform: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    message_stream: str = ""


def _filtered(qs: QuerySet, filters: EventFilters) -> QuerySet:
    if filters.recipient:
        qs = qs.filter(recipient__icontains=filters.recipient)
    if filters.tag:
        qs = qs.filter(tag=filters.tag)
    if filters.message_stream:
        qs = qs.filter(message_stream=filters.message_stream.lower())
    for name in (
        "client_name",
        "client_company",
        "client_family",
        "os_name",
        "os_family",
        "os_company",
        "platform",
        "country",
        "region",
        "city",
    ):
        value = getattr(filters, name)
        if value:
            qs = qs.filter(**{f"{name}__iexact": value})
    return qs


def _page(
    model: type[Open] | type[Click],
    *,
    server: Server,
    filters: EventFilters,
    message: Message | None,
    count: int,
    offset: int,
) -> tuple[int, list]:
    qs = model.objects.filter(server=server)
    if message is not None:
        qs = qs.filter(message=message)
    qs = _filtered(qs, filters)
    total = qs.count()
    page = list(
        qs.select_related("message").order_by("-received_at", "-id")[
            offset : offset + count
        ]
    )
    return total, page


def open_list(
    *,
    server: Server,
    filters: EventFilters,
    count: int,
    offset: int,
    message: Message | None = None,
) -> tuple[int, list[Open]]:
    """``(total, page)`` of the server's opens (of ``message`` if given), newest
    first. Two queries."""
    return _page(
        Open,
        server=server,
        filters=filters,
        message=message,
        count=count,
        offset=offset,
    )


def click_list(
    *,
    server: Server,
    filters: EventFilters,
    count: int,
    offset: int,
    message: Message | None = None,
) -> tuple[int, list[Click]]:
    """``(total, page)`` of the server's clicks (of ``message`` if given), newest
    first. Two queries."""
    return _page(
        Click,
        server=server,
        filters=filters,
        message=message,
        count=count,
        offset=offset,
    )


def message_tracking(*, message: Message) -> tuple[list[Open], list[Click]]:
    """The opens and clicks of one (already tenant-checked) message, oldest
    first, for the message page. No query for a message sent without tracking
    (it carries no tokens, so it has none)."""
    if not message.tracked:
        return [], []
    opens = list(Open.objects.filter(message=message).order_by("received_at", "id"))
    clicks = list(Click.objects.filter(message=message).order_by("received_at", "id"))
    return opens, clicks


def counter_names(*, server: Server, prefix: str) -> list[str]:
    """Names of the server's statistics counters starting with ``prefix`` (the
    dynamic ones: email clients, browser families)."""
    return sorted(
        set(
            DailyStat.objects.filter(server=server, name__startswith=prefix)
            .values_list("name", flat=True)
            .distinct()
        )
    )


def tracking_daily(
    *, server: Server, first: date, last: date
) -> dict[date, dict[str, int]]:
    """``{day: {"UniqueOpens": n, "Clicks": n}}`` for the server's statistics
    days in ``first..last`` (days without any are absent). One query."""
    rows = (
        DailyStat.objects.filter(
            server=server,
            tag_key="",
            name__in=["UniqueOpens", "Clicks"],
            day__gte=first,
            day__lte=last,
        )
        .values_list("day", "name")
        .annotate(n=Sum("value"))
    )
    result: dict[date, dict[str, int]] = {}
    for day, name, value in rows:
        result.setdefault(day, {})[name] = value or 0
    return result
