"""Postmark's opens and clicks API (§5): ``GET /messages/outbound/opens``,
``/messages/outbound/opens/{id}``, ``/messages/outbound/clicks`` and
``/messages/outbound/clicks/{id}`` (server token)."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from messages.selectors import message_get
from postmark_clone.errors import ApplicationError
from tracking.payloads import click_record, open_record
from tracking.selectors import EventFilters, click_list, open_list

from ..base import ServerApiView, query_param
from ..serializers import format_datetime
from .messages import NOT_FOUND, _paging


def _filters(request: Request) -> EventFilters:
    def value(name: str) -> str:
        # snake_case (docs, postmarker) or camelCase (postmark.js, PY) keys.
        return query_param(request, name, name.replace("_", ""))

    return EventFilters(
        recipient=value("recipient"),
        tag=value("tag"),
        client_name=value("client_name"),
        client_company=value("client_company"),
        client_family=value("client_family"),
        os_name=value("os_name"),
        os_family=value("os_family"),
        os_company=value("os_company"),
        platform=value("platform"),
        country=value("country"),
        region=value("region"),
        city=value("city"),
        message_stream=value("message_stream"),
    )


class _TrackingListApi(ServerApiView):
    kind = "Opens"

    def get(self, request: Request, message_id: str | None = None) -> Response:
        count, offset = _paging(request)
        message = None
        filters = EventFilters()
        if message_id is None:
            filters = _filters(request)
        else:
            message = message_get(server=self.server, message_id=message_id)
            if message is None:
                raise ApplicationError(701, NOT_FOUND)
        if self.kind == "Opens":
            total, page = open_list(
                server=self.server,
                filters=filters,
                count=count,
                offset=offset,
                message=message,
            )
            items = [
                open_record(
                    e,
                    message_uuid=str(e.message.message_id),
                    received_at=format_datetime(e.received_at),
                )
                for e in page
            ]
        else:
            total, page = click_list(
                server=self.server,
                filters=filters,
                count=count,
                offset=offset,
                message=message,
            )
            items = [
                click_record(
                    e,
                    message_uuid=str(e.message.message_id),
                    received_at=format_datetime(e.received_at),
                )
                for e in page
            ]
        return Response({"TotalCount": total, self.kind: items})


class OpenListApi(_TrackingListApi):
    """``GET /messages/outbound/opens`` and ``/opens/{messageid}``."""

    kind = "Opens"


class ClickListApi(_TrackingListApi):
    """``GET /messages/outbound/clicks`` and ``/clicks/{messageid}``."""

    kind = "Clicks"


urlpatterns = [
    path("messages/outbound/opens", OpenListApi.as_view()),
    path("messages/outbound/opens/<str:message_id>", OpenListApi.as_view()),
    path("messages/outbound/clicks", ClickListApi.as_view()),
    path("messages/outbound/clicks/<str:message_id>", ClickListApi.as_view()),
]
