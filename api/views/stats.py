"""``GET /stats/outbound`` and its sub-paths (Postmark §6).

Sends, bounces and spam complaints are counted as events happen
(``bounces.stats``). Opens and clicks are not tracked yet: those paths answer
with Postmark's shapes, all zeros and no days, so clients keep working.
"""

from __future__ import annotations

import re
from datetime import date

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from bounces.selectors_stats import StatsFilter, stats_counters
from postmark_clone.errors import ApplicationError

from ..base import ServerApiView, query_param

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")

# Keys of /stats/outbound that need open/click tracking, which we do not record.
UNTRACKED_OVERVIEW_KEYS = (
    "Tracked",
    "Opens",
    "UniqueOpens",
    "TotalClicks",
    "UniqueLinksClicked",
    "WithClientRecorded",
    "WithPlatformRecorded",
    "WithReadTimeRecorded",
    "WithLinkTracking",
    "WithOpenTracking",
    "TotalTrackedLinksSent",
)


def _parse_date(request: Request, name: str) -> date | None:
    raw = query_param(request, name)
    if not raw:
        return None
    match = _DATE.match(raw.strip())
    try:
        if match is None:
            raise ValueError(raw)
        return date.fromisoformat(match.group(1))
    except ValueError:
        raise ApplicationError(
            900, f"The '{name}' parameter must be a date (YYYY-MM-DD)."
        ) from None


def _filters(request: Request) -> StatsFilter:
    return StatsFilter(
        tag=query_param(request, "tag"),
        fromdate=_parse_date(request, "fromdate"),
        todate=_parse_date(request, "todate"),
        message_stream=query_param(request, "messagestream"),
    )


def _rate(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 3) if whole else 0.0


class StatsOverviewApi(ServerApiView):
    """``GET /stats/outbound``: totals only, no ``Days``."""

    def get(self, request: Request) -> Response:
        result = stats_counters(
            server=self.server,
            filters=_filters(request),
            names=["Sent", "Bounced", "SMTPApiError", "SpamComplaint"],
            by_day=False,
        )
        t = result.totals
        body: dict[str, int | float] = {
            "Sent": t["Sent"],
            "Bounced": t["Bounced"],
            "SMTPApiErrors": t["SMTPApiError"],
            "BounceRate": _rate(t["Bounced"], t["Sent"]),
            "SpamComplaints": t["SpamComplaint"],
            "SpamComplaintsRate": _rate(t["SpamComplaint"], t["Sent"]),
        }
        body.update(dict.fromkeys(UNTRACKED_OVERVIEW_KEYS, 0))
        return Response(body)


class StatsDaysApi(ServerApiView):
    """A per-day stats path: ``{"Days": [{"Date": ..., <non-zero keys>}], <totals>}``.

    ``keys`` maps each response key to its counter name, or to ``None`` for
    counters we do not track (always zero, so days stay empty)."""

    keys: dict[str, str | None] = {}

    def get(self, request: Request) -> Response:
        filters = _filters(request)
        counters = {key: name for key, name in self.keys.items() if name}
        result = stats_counters(
            server=self.server,
            filters=filters,
            names=list(counters.values()),
            by_day=True,
        )
        days = []
        for day, values in result.days:
            item: dict[str, str | int] = {"Date": day.isoformat()}
            for key, name in counters.items():
                if values.get(name):
                    item[key] = values[name]
            days.append(item)
        body: dict[str, object] = {"Days": days}
        for key, name in self.keys.items():
            body[key] = result.totals[name] if name else 0
        return Response(body)


def _days_view(keys: dict[str, str | None], doc: str):
    return type(
        "StatsDaysApi", (StatsDaysApi,), {"keys": keys, "__doc__": doc}
    ).as_view()


urlpatterns = [
    path("stats/outbound", StatsOverviewApi.as_view()),
    path(
        "stats/outbound/sends",
        _days_view({"Sent": "Sent"}, "Recipients accepted per day."),
    ),
    path(
        "stats/outbound/bounces",
        _days_view(
            {
                "HardBounce": "HardBounce",
                "SMTPApiError": "SMTPApiError",
                "SoftBounce": "SoftBounce",
                "Transient": "Transient",
            },
            "Bounces per day by type.",
        ),
    ),
    path(
        "stats/outbound/spam",
        _days_view({"SpamComplaint": "SpamComplaint"}, "Spam complaints per day."),
    ),
    # Open and click tracking is not implemented: valid, empty answers.
    path("stats/outbound/tracked", _days_view({"Tracked": None}, "Not tracked.")),
    path(
        "stats/outbound/opens",
        _days_view({"Opens": None, "Unique": None}, "Not tracked."),
    ),
    path(
        "stats/outbound/opens/platforms",
        _days_view(
            {"Desktop": None, "Mobile": None, "Unknown": None, "WebMail": None},
            "Not tracked.",
        ),
    ),
    path("stats/outbound/opens/emailclients", _days_view({}, "Not tracked.")),
    path("stats/outbound/opens/readtimes", _days_view({}, "Not tracked.")),
    path(
        "stats/outbound/clicks",
        _days_view({"Clicks": None, "Unique": None}, "Not tracked."),
    ),
    path("stats/outbound/clicks/browserfamilies", _days_view({}, "Not tracked.")),
    path(
        "stats/outbound/clicks/platforms",
        _days_view({"Desktop": None, "Mobile": None, "Unknown": None}, "Not tracked."),
    ),
    path(
        "stats/outbound/clicks/location",
        _days_view({"HTML": None, "Text": None}, "Not tracked."),
    ),
]
