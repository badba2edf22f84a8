"""``GET /stats/outbound`` and its sub-paths (Postmark §6).

Sends, bounces and spam complaints are counted as events happen
(``bounces.stats``); so are tracked deliveries, opens and clicks
(``tracking.services``). Every path reads only the ``DailyStat`` counters.
"""

from __future__ import annotations

import re
from datetime import date

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from bounces.selectors_stats import StatsFilter, stats_counters
from postmark_clone.errors import ApplicationError
from tracking.selectors import counter_names

from ..base import ServerApiView, query_param

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")

# /stats/outbound keys filled from tracking counters (response key -> counter).
TRACKING_OVERVIEW_KEYS = {
    "Tracked": "Tracked",
    "Opens": "Opens",
    "UniqueOpens": "UniqueOpens",
    "TotalClicks": "Clicks",
    "UniqueLinksClicked": "UniqueClicks",
    "WithClientRecorded": "WithClientRecorded",
    "WithPlatformRecorded": "WithPlatformRecorded",
    "WithReadTimeRecorded": None,  # read time is not measured
    "WithLinkTracking": "WithLinkTracking",
    "WithOpenTracking": "WithOpenTracking",
    "TotalTrackedLinksSent": "TotalTrackedLinksSent",
}


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
            names=[
                "Sent",
                "Bounced",
                "SMTPApiError",
                "SpamComplaint",
                *(n for n in TRACKING_OVERVIEW_KEYS.values() if n),
            ],
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
        for key, name in TRACKING_OVERVIEW_KEYS.items():
            body[key] = t[name] if name else 0
        return Response(body)


class StatsDaysApi(ServerApiView):
    """A per-day stats path: ``{"Days": [{"Date": ..., <non-zero keys>}], <totals>}``.

    ``keys`` maps each response key to its counter name, or to ``None`` for
    counters we do not track (always zero, so days stay empty)."""

    keys: dict[str, str | None] = {}
    # Dynamic keys (email clients, browser families): every counter named
    # ``<prefix><key>`` of the server becomes a key.
    prefix = ""

    def get(self, request: Request) -> Response:
        filters = _filters(request)
        keys = dict(self.keys)
        if self.prefix:
            for name in counter_names(server=self.server, prefix=self.prefix):
                keys[name[len(self.prefix) :]] = name
        counters = {key: name for key, name in keys.items() if name}
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
        for key, name in keys.items():
            body[key] = result.totals[name] if name else 0
        return Response(body)


def _days_view(keys: dict[str, str | None], doc: str, prefix: str = ""):
    return type(
        "StatsDaysApi",
        (StatsDaysApi,),
        {"keys": keys, "prefix": prefix, "__doc__": doc},
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
    path(
        "stats/outbound/tracked",
        _days_view({"Tracked": "Tracked"}, "Delivered copies with tracking on."),
    ),
    path(
        "stats/outbound/opens",
        _days_view(
            {"Opens": "Opens", "Unique": "UniqueOpens"}, "Opens and first opens."
        ),
    ),
    path(
        "stats/outbound/opens/platforms",
        _days_view(
            {
                "Desktop": "OpenPlatform:Desktop",
                "Mobile": "OpenPlatform:Mobile",
                "Unknown": "OpenPlatform:Unknown",
                "WebMail": "OpenPlatform:WebMail",
            },
            "First opens by platform.",
        ),
    ),
    path(
        "stats/outbound/opens/emailclients",
        _days_view({}, "First opens by email client.", prefix="OpenClient:"),
    ),
    path(
        "stats/outbound/opens/readtimes",
        # Read time is not measured: every first open is in "unknown".
        _days_view({"unknown": "UniqueOpens"}, "First opens by read time."),
    ),
    path(
        "stats/outbound/clicks",
        _days_view(
            {"Clicks": "Clicks", "Unique": "UniqueClicks"},
            "Clicks, and first clicks per link and recipient.",
        ),
    ),
    path(
        "stats/outbound/clicks/browserfamilies",
        _days_view({}, "Clicks by browser family.", prefix="ClickBrowser:"),
    ),
    path(
        "stats/outbound/clicks/platforms",
        _days_view(
            {
                "Desktop": "ClickPlatform:Desktop",
                "Mobile": "ClickPlatform:Mobile",
                "Unknown": "ClickPlatform:Unknown",
            },
            "Clicks by platform.",
        ),
    ),
    path(
        "stats/outbound/clicks/location",
        _days_view(
            {"HTML": "ClickLocation:HTML", "Text": "ClickLocation:Text"},
            "Clicks by where the link was (HTML or text part).",
        ),
    ),
]
