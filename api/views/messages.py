"""Postmark's outbound Messages API: search, details and raw dump.

``GET /messages/outbound``, ``GET /messages/outbound/{id}/details`` and
``GET /messages/outbound/{id}/dump`` (server token). The views parse Postmark's
query conventions (Eastern-time dates, ``metadata_<key>``, paging limits) and call
one selector each.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from email.utils import getaddresses
from typing import Any
from zoneinfo import ZoneInfo

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from messages.models import Message, MessageEvent
from messages.selectors import (
    STATUS_FILTERS,
    MessageFilters,
    message_content,
    message_events,
    message_get,
    message_search,
)
from postmark_clone.errors import ApplicationError

from ..base import ServerApiView, query_param
from ..serializers import format_datetime

MAX_COUNT = 500
MAX_WINDOW = 10_000  # count + offset; Postmark's paging ceiling
# Postmark reads query dates as US Eastern time (DST-aware).
POSTMARK_TZ = ZoneInfo("America/New_York")
NOT_FOUND = "This message was not found."


def _paging(request: Request) -> tuple[int, int]:
    values = {}
    for name, low, high in (("count", 1, MAX_COUNT), ("offset", 0, MAX_WINDOW)):
        raw = query_param(request, name)
        if raw == "":
            raise ApplicationError(700, f"The '{name}' parameter is required.")
        try:
            value = int(raw)
        except ValueError as exc:
            raise ApplicationError(
                700, f"The '{name}' parameter must be an integer."
            ) from exc
        if not low <= value <= high:
            raise ApplicationError(
                700, f"The '{name}' parameter must be between {low} and {high}."
            )
        values[name] = value
    if values["count"] + values["offset"] > MAX_WINDOW:
        raise ApplicationError(
            700, f"'count' + 'offset' must not exceed {MAX_WINDOW:,}."
        )
    return values["count"], values["offset"]


def parse_query_date(raw: str, *, name: str, end: bool) -> datetime | None:
    """Postmark query date → aware datetime, as an inclusive bound.

    Accepts ``YYYY-MM-DD`` and ``YYYY-MM-DDTHH:MM:SS`` (read as US Eastern, like
    Postmark); an explicit offset or ``Z`` is honoured. For ``todate`` (``end``)
    a date means the whole day and a time the whole second, so both stay
    inclusive.
    """
    if not raw:
        return None
    text = raw.strip().replace(" ", "T")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time.min, tzinfo=POSTMARK_TZ)
            if end:
                # Midnight of the next local day (DST-safe), minus one tick.
                next_day = datetime.combine(
                    day + timedelta(days=1), time.min, tzinfo=POSTMARK_TZ
                )
                return next_day - timedelta(microseconds=1)
            return start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApplicationError(
            700,
            f"The '{name}' parameter must be a date (YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM:SS).",
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=POSTMARK_TZ)
    if end and moment.microsecond == 0:
        moment += timedelta(microseconds=999_999)
    return moment


def parse_filters(request: Request) -> MessageFilters:
    """Query string → ``MessageFilters``; raises ``ApplicationError(700)``."""
    status = query_param(request, "status").lower()
    if status and status not in STATUS_FILTERS:
        raise ApplicationError(
            700,
            "The 'status' parameter must be one of: queued, sent, processed, failed.",
        )
    fromdate = parse_query_date(
        query_param(request, "fromdate"), name="fromdate", end=False
    )
    todate = parse_query_date(query_param(request, "todate"), name="todate", end=True)
    metadata = {
        key.partition("_")[2]: value
        for key, value in request.query_params.items()
        if key.startswith("metadata_") and key != "metadata_" and value != ""
    }
    return MessageFilters(
        recipient=query_param(request, "recipient"),
        fromemail=query_param(request, "fromemail", "from_email"),
        tag=query_param(request, "tag"),
        status=status,
        fromdate=fromdate,
        todate=todate,
        subject=query_param(request, "subject"),
        messagestream=query_param(request, "messagestream", "message_stream"),
        metadata=metadata,
    )


def _addresses(header: str) -> list[dict[str, str]]:
    if not header:
        return []
    return [
        {"Email": address, "Name": name}
        for name, address in getaddresses([header])
        if address
    ]


def outbound_message(message: Message) -> dict[str, Any]:
    """Postmark's outbound message object (list item and details base)."""
    return {
        "Tag": message.tag,
        "MessageID": str(message.message_id),
        "MessageStream": message.message_stream,
        "To": _addresses(message.to_header),
        "Cc": _addresses(message.cc_header),
        "Bcc": _addresses(message.bcc_header),
        "Recipients": [r for r in message.recipients_text.split(",") if r],
        "ReceivedAt": format_datetime(message.received_at),
        "From": message.from_header,
        "Subject": message.subject,
        "Attachments": list(message.attachment_names or []),
        "Status": message.status,
        "TrackOpens": message.track_opens,
        "TrackLinks": message.track_links,
        "Metadata": message.metadata or {},
        "Sandboxed": message.sandboxed,
    }


def message_event(event: MessageEvent) -> dict[str, Any]:
    return {
        "Recipient": event.recipient,
        "Type": event.type,
        "ReceivedAt": format_datetime(event.created_at),
        "Details": event.details or {},
    }


def _get_or_701(server, message_id: str) -> Message:
    message = message_get(server=server, message_id=message_id)
    if message is None:
        raise ApplicationError(701, NOT_FOUND)
    return message


class OutboundMessageListApi(ServerApiView):
    def get(self, request: Request) -> Response:
        count, offset = _paging(request)
        filters = parse_filters(request)
        total, page = message_search(
            server=self.server, filters=filters, count=count, offset=offset
        )
        return Response(
            {"TotalCount": total, "Messages": [outbound_message(m) for m in page]}
        )


class OutboundMessageDetailsApi(ServerApiView):
    def get(self, request: Request, message_id: str) -> Response:
        message = _get_or_701(self.server, message_id)
        content = message_content(message=message)
        body = outbound_message(message)
        body.update(
            {
                "TextBody": content.text_body,
                "HtmlBody": content.html_body,
                "Body": content.raw,
                "MessageEvents": [
                    message_event(e) for e in message_events(message=message)
                ],
            }
        )
        return Response(body)


class OutboundMessageDumpApi(ServerApiView):
    def get(self, request: Request, message_id: str) -> Response:
        message = _get_or_701(self.server, message_id)
        return Response({"Body": message_content(message=message).raw})


urlpatterns = [
    path("messages/outbound", OutboundMessageListApi.as_view()),
    path(
        "messages/outbound/<str:message_id>/details",
        OutboundMessageDetailsApi.as_view(),
    ),
    path("messages/outbound/<str:message_id>/dump", OutboundMessageDumpApi.as_view()),
]
