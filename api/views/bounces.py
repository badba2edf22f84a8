"""Bounce API: ``/deliverystats``, ``/bounces``, ``/bounces/{id}``,
``/bounces/{id}/dump`` and ``/bounces/tags`` (activation lives with the
suppressions in ``api/views/suppressions.py``)."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.urls import path
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.request import Request
from rest_framework.response import Response

from bounces import selectors, services
from bounces.models import TYPE_CODES
from bounces.payloads import bounce_fields
from postmark_clone.errors import ApplicationError

from ..base import ServerApiView, query_param
from ..errors import error_response

# Postmark reads query dates as US Eastern time (postmark-api.md §1).
EASTERN = ZoneInfo("America/New_York")
MAX_COUNT = 500
MAX_WINDOW = 10_000


def parse_query_date(value: str, *, end: bool, code: int = 1000) -> datetime | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SS`` (Eastern unless it has an
    offset); a bare ``todate`` includes its whole day."""
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise ApplicationError(code, f"'{value}' is not a valid date.")
        parsed = datetime.combine(day, time.max if end else time.min)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=EASTERN)
    return parsed


def parse_bool(value: str, *, name: str, code: int = 1000) -> bool | None:
    if value == "":
        return None
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApplicationError(code, f"The '{name}' parameter must be true or false.")


def paging(request: Request, *, code: int = 1000) -> tuple[int, int]:
    """Postmark's required ``count`` (1..500) and ``offset`` (≥ 0, sum ≤ 10 000)."""
    raw_count = query_param(request, "count")
    raw_offset = query_param(request, "offset")
    if not raw_count or not raw_offset:
        raise ApplicationError(
            code, "The 'count' and 'offset' parameters are required."
        )
    try:
        count, offset = int(raw_count), int(raw_offset)
    except ValueError as exc:
        raise ApplicationError(
            code, "The 'count' and 'offset' parameters must be integers."
        ) from exc
    if not 1 <= count <= MAX_COUNT or offset < 0 or count + offset > MAX_WINDOW:
        raise ApplicationError(
            code,
            f"'count' must be between 1 and {MAX_COUNT}, 'offset' at least 0, and "
            f"count + offset at most {MAX_WINDOW}.",
        )
    return count, offset


def bounce_not_found() -> Response:
    # Another tenant's bounce is indistinguishable from a missing one.
    return error_response(1001, "This bounce was not found.", 404)


class DeliveryStatsApi(ServerApiView):
    def get(self, request: Request) -> Response:
        return Response(selectors.delivery_stats(server=self.server))


class BounceListApi(ServerApiView):
    def get(self, request: Request) -> Response:
        count, offset = paging(request)
        bounce_type = query_param(request, "type")
        if bounce_type and bounce_type not in TYPE_CODES:
            matches = [t for t in TYPE_CODES if t.lower() == bounce_type.lower()]
            if not matches:
                raise ApplicationError(1000, f"'{bounce_type}' is not a bounce type.")
            bounce_type = matches[0]
        message_id = query_param(request, "messageid")
        if message_id:
            try:
                message_id = str(uuid.UUID(message_id))
            except ValueError:
                # No bounce can have it: answer an empty page, not an error.
                return Response({"TotalCount": 0, "Bounces": []})
        filters = selectors.BounceFilters(
            type=bounce_type,
            inactive=parse_bool(query_param(request, "inactive"), name="inactive"),
            email_filter=query_param(request, "emailfilter"),
            tag=query_param(request, "tag"),
            message_id=message_id,
            fromdate=parse_query_date(query_param(request, "fromdate"), end=False),
            todate=parse_query_date(query_param(request, "todate"), end=True),
            message_stream=query_param(request, "messagestream", default="outbound"),
        )
        total, page = selectors.bounce_list(
            server=self.server, filters=filters, count=count, offset=offset
        )
        return Response(
            {"TotalCount": total, "Bounces": [bounce_fields(b) for b in page]}
        )


class BounceDetailApi(ServerApiView):
    def get(self, request: Request, bounce_id: int) -> Response:
        bounce = selectors.bounce_get(server=self.server, bounce_id=bounce_id)
        if bounce is None:
            return bounce_not_found()
        body = bounce_fields(bounce)
        body["Content"] = services.bounce_dump(bounce=bounce)
        return Response(body)


class BounceDumpApi(ServerApiView):
    def get(self, request: Request, bounce_id: int) -> Response:
        bounce = selectors.bounce_get(server=self.server, bounce_id=bounce_id)
        if bounce is None:
            return bounce_not_found()
        return Response({"Body": services.bounce_dump(bounce=bounce)})


class BounceTagsApi(ServerApiView):
    def get(self, request: Request) -> Response:
        return Response(selectors.bounce_tags(server=self.server))


urlpatterns = [
    path("deliverystats", DeliveryStatsApi.as_view()),
    path("bounces", BounceListApi.as_view()),
    path("bounces/tags", BounceTagsApi.as_view()),
    path("bounces/<int:bounce_id>", BounceDetailApi.as_view()),
    path("bounces/<int:bounce_id>/dump", BounceDumpApi.as_view()),
]
