"""Postmark's message streams API (``X-Postmark-Server-Token``, §8): list, get,
create, edit (PATCH), archive and unarchive."""

from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.models import MessageStream
from postmark_clone.errors import ApplicationError

from ..base import ServerApiView, query_param
from ..representations import iso, stream_json

STREAM_NOT_FOUND = 1226
INVALID_STREAM_TYPE = 1221
QUERY_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if data in (None, "") or (hasattr(data, "keys") and not data):
        return {}
    if not isinstance(data, dict):
        raise ApplicationError(402, "The request body must be a JSON object.")
    return data


def _unsubscribe_handling(data: dict[str, Any]) -> Any:
    """``SubscriptionManagementConfiguration.UnsubscribeHandlingType``; postmarker
    also sends it at the top level. ``None`` when absent."""
    config = data.get("SubscriptionManagementConfiguration")
    if isinstance(config, dict) and config.get("UnsubscribeHandlingType") is not None:
        return config["UnsubscribeHandlingType"]
    if config is not None and not isinstance(config, dict):
        raise ApplicationError(
            1240, "'SubscriptionManagementConfiguration' must be an object."
        )
    return data.get("UnsubscribeHandlingType")


class _StreamView(ServerApiView):
    def stream(self, stream_id: str) -> MessageStream:
        stream = selectors.stream_get(server=self.server, stream_id=stream_id)
        if stream is None:
            # Another tenant's stream is indistinguishable from a missing one.
            raise ApplicationError(
                STREAM_NOT_FOUND,
                f"The message stream '{stream_id}' was not found on this server.",
            )
        return stream


class MessageStreamListApi(ServerApiView):
    """``GET /message-streams?MessageStreamType=All|Transactional|Broadcasts|Inbound
    &IncludeArchivedStreams=false`` and ``POST /message-streams`` (create)."""

    def get(self, request: Request) -> Response:
        stream_type = query_param(request, "messagestreamtype", default="All")
        allowed = {"all", *(value.lower() for value in MessageStream.Type.values)}
        if stream_type.lower() not in allowed:
            raise ApplicationError(
                INVALID_STREAM_TYPE,
                f"Invalid MessageStreamType '{stream_type}'. Use All, "
                "Transactional, Broadcasts or Inbound.",
            )
        raw_archived = query_param(request, "includearchivedstreams", default="false")
        include_archived = QUERY_BOOLEANS.get(raw_archived.lower())
        if include_archived is None:
            raise ApplicationError(
                INVALID_STREAM_TYPE,
                f"IncludeArchivedStreams must be true or false, not '{raw_archived}'.",
            )
        streams = list(
            selectors.stream_list(
                server=self.server,
                stream_type=stream_type,
                include_archived=include_archived,
            )
        )
        return Response(
            {
                "MessageStreams": [stream_json(stream) for stream in streams],
                "TotalCount": len(streams),
            }
        )

    def post(self, request: Request) -> Response:
        data = _body(request)
        stream = services.stream_create(
            server=self.server,
            stream_id=data.get("ID"),
            name=data.get("Name"),
            stream_type=data.get("MessageStreamType"),
            description=data.get("Description"),
            unsubscribe_handling=_unsubscribe_handling(data),
        )
        return Response(stream_json(stream))


class MessageStreamDetailApi(_StreamView):
    """``GET /message-streams/{id}`` and ``PATCH /message-streams/{id}``."""

    def get(self, request: Request, stream_id: str) -> Response:
        return Response(stream_json(self.stream(stream_id)))

    def patch(self, request: Request, stream_id: str) -> Response:
        data = _body(request)
        stream = services.stream_update(
            stream=self.stream(stream_id),
            name=data.get("Name", services.UNSET),
            description=data.get("Description", services.UNSET),
            unsubscribe_handling=_unsubscribe_handling(data),
        )
        return Response(stream_json(stream))


class MessageStreamArchiveApi(_StreamView):
    """``POST /message-streams/{id}/archive`` → ``{ID, ServerID,
    ExpectedPurgeDate}``."""

    def post(self, request: Request, stream_id: str) -> Response:
        stream = services.stream_archive(stream=self.stream(stream_id))
        return Response(
            {
                "ID": stream.stream_id,
                "ServerID": stream.server_id,
                "ExpectedPurgeDate": iso(stream.expected_purge_at),
            }
        )


class MessageStreamUnarchiveApi(_StreamView):
    """``POST /message-streams/{id}/unarchive`` → the stream, ``ArchivedAt: null``.
    Also answers PUT, which postmarker's (unreleased) streams manager sends."""

    def post(self, request: Request, stream_id: str) -> Response:
        stream = services.stream_unarchive(stream=self.stream(stream_id))
        return Response(stream_json(stream))

    put = post


urlpatterns = [
    path("message-streams", MessageStreamListApi.as_view()),
    path("message-streams/<str:stream_id>", MessageStreamDetailApi.as_view()),
    path("message-streams/<str:stream_id>/archive", MessageStreamArchiveApi.as_view()),
    path(
        "message-streams/<str:stream_id>/unarchive",
        MessageStreamUnarchiveApi.as_view(),
    ),
]
