"""Suppressions per message stream, and ``PUT /bounces/{id}/activate``."""

from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from bounces import selectors, services
from bounces.models import Suppression
from bounces.payloads import bounce_fields, format_datetime
from postmark_clone.errors import ApplicationError

from ..base import ServerApiView, query_param
from ..errors import error_response
from .bounces import bounce_not_found, parse_query_date


def stream_not_found(stream_id: str) -> Response:
    # Another tenant's stream is indistinguishable from a missing one.
    return error_response(
        1226,
        f"The message stream for the provided 'ID' ({stream_id}) was not found.",
        404,
    )


def _choice(value: str, choices: list[str], code: int, name: str) -> str:
    if not value:
        return ""
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    raise ApplicationError(code, f"'{value}' is not a valid {name}.")


def _addresses(data: Any) -> list[str]:
    """``{"Suppressions": [{"EmailAddress": "..."}]}`` → addresses (≤ 50)."""
    items = data.get("Suppressions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ApplicationError(
            1409, 'The request body must be {"Suppressions": [{"EmailAddress"}]}.'
        )
    if len(items) > services.MAX_SUPPRESSION_ITEMS:
        raise ApplicationError(
            1410,
            f"You can send at most {services.MAX_SUPPRESSION_ITEMS} suppressions "
            f"per request; this one has {len(items)}.",
        )
    out = []
    for item in items:
        value = item.get("EmailAddress") if isinstance(item, dict) else None
        out.append(value if isinstance(value, str) else "")
    return out


class SuppressionDumpApi(ServerApiView):
    def get(self, request: Request, stream_id: str) -> Response:
        stream = selectors.stream_get(server=self.server, stream_id=stream_id)
        if stream is None:
            return stream_not_found(stream_id)
        rows = selectors.suppression_dump(
            server=self.server,
            message_stream=stream.stream_id,
            reason=_choice(
                query_param(request, "suppressionreason"),
                list(Suppression.Reason.values),
                1404,
                "SuppressionReason",
            ),
            origin=_choice(
                query_param(request, "origin"),
                list(Suppression.Origin.values),
                1405,
                "Origin",
            ),
            fromdate=parse_query_date(
                query_param(request, "fromdate"), end=False, code=1400
            ),
            todate=parse_query_date(
                query_param(request, "todate"), end=True, code=1400
            ),
            email=query_param(request, "emailaddress"),
        )
        return Response(
            {
                "Suppressions": [
                    {
                        "EmailAddress": row.email,
                        "SuppressionReason": row.reason,
                        "Origin": row.origin,
                        "CreatedAt": format_datetime(row.created_at),
                    }
                    for row in rows
                ]
            }
        )


class SuppressionCreateApi(ServerApiView):
    def post(self, request: Request, stream_id: str) -> Response:
        stream = selectors.stream_get(server=self.server, stream_id=stream_id)
        if stream is None:
            return stream_not_found(stream_id)
        results = services.suppression_add(
            server=self.server,
            message_stream=stream.stream_id,
            emails=_addresses(request.data),
        )
        return Response({"Suppressions": results})


class SuppressionDeleteApi(ServerApiView):
    def post(self, request: Request, stream_id: str) -> Response:
        stream = selectors.stream_get(server=self.server, stream_id=stream_id)
        if stream is None:
            return stream_not_found(stream_id)
        results = services.suppression_delete(
            server=self.server,
            message_stream=stream.stream_id,
            emails=_addresses(request.data),
        )
        return Response({"Suppressions": results})


class BounceActivateApi(ServerApiView):
    def put(self, request: Request, bounce_id: int) -> Response:
        if selectors.bounce_get(server=self.server, bounce_id=bounce_id) is None:
            return bounce_not_found()
        bounce = services.bounce_activate(server=self.server, bounce_id=bounce_id)
        body = bounce_fields(bounce)
        body["Content"] = services.bounce_dump(bounce=bounce)
        return Response({"Message": "OK", "Bounce": body})


urlpatterns = [
    path(
        "message-streams/<str:stream_id>/suppressions/dump",
        SuppressionDumpApi.as_view(),
    ),
    path(
        "message-streams/<str:stream_id>/suppressions", SuppressionCreateApi.as_view()
    ),
    path(
        "message-streams/<str:stream_id>/suppressions/delete",
        SuppressionDeleteApi.as_view(),
    ),
    path("bounces/<int:bounce_id>/activate", BounceActivateApi.as_view()),
]
