"""Reads for per-server statistics. They touch only ``DailyStat`` rows, never
messages or bounces, so their cost does not grow with the archive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Sum

from accounts.models import MessageStream, Server
from postmark_clone.errors import ApplicationError

from .models import DailyStat
from .stats import stats_tag_key


@dataclass(frozen=True)
class StatsFilter:
    """Postmark's common stats query: every field optional (all time, all tags,
    all streams). Dates are inclusive."""

    tag: str = ""
    fromdate: date | None = None
    todate: date | None = None
    message_stream: str = ""


@dataclass
class StatsResult:
    """Counter totals over the range and, when asked, per-day counters (days in
    ascending order, each with only its non-zero counters)."""

    totals: dict[str, int]
    days: list[tuple[date, dict[str, int]]]


def stats_counters(
    *, server: Server, filters: StatsFilter, names: list[str], by_day: bool
) -> StatsResult:
    """Sum the server's counters ``names`` over ``filters``.

    Raises ``ApplicationError`` 1226 when ``filters.message_stream`` is not a
    stream of this server (another tenant's stream is just as unknown) and 1502
    when ``fromdate`` is after ``todate``. One query (two with a stream filter).
    """
    if filters.fromdate and filters.todate and filters.fromdate > filters.todate:
        raise ApplicationError(1502, "FromDate must be before or equal to ToDate.")
    qs = DailyStat.objects.filter(
        server=server,
        tag_key=stats_tag_key(filters.tag) if filters.tag else "",
        name__in=names,
    )
    if filters.message_stream:
        stream = filters.message_stream.lower()
        if not MessageStream.objects.filter(server=server, stream_id=stream).exists():
            raise ApplicationError(
                1226, "The message stream for the provided 'ID' was not found."
            )
        qs = qs.filter(message_stream=stream)
    if filters.fromdate:
        qs = qs.filter(day__gte=filters.fromdate)
    if filters.todate:
        qs = qs.filter(day__lte=filters.todate)
    totals = dict.fromkeys(names, 0)
    days: list[tuple[date, dict[str, int]]] = []
    if by_day:
        rows = qs.values_list("day", "name").annotate(n=Sum("value")).order_by("day")
        for day, name, value in rows:
            if not value:
                continue
            if not days or days[-1][0] != day:
                days.append((day, {}))
            days[-1][1][name] = value
            totals[name] += value
    else:
        for name, value in qs.values_list("name").annotate(n=Sum("value")):
            totals[name] += value or 0
    return StatsResult(totals=totals, days=days)
