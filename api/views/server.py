"""Postmark's server API (``X-Postmark-Server-Token``): ``/server`` and the
read side of ``/message-streams``."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.models import MessageStream
from postmark_clone.errors import ApplicationError

from ..base import ServerApiView, query_param
from ..representations import server_input, server_json, stream_json

STREAM_NOT_FOUND = 1226
INVALID_STREAM_TYPE = 1221
QUERY_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


class ServerApi(ServerApiView):
    """``GET /server`` and ``PUT /server``: the token's own server."""

    def get(self, request: Request) -> Response:
        return Response(server_json(self.server))

    def put(self, request: Request) -> Response:
        server = services.server_update(
            server=self.server, **server_input(request.data)
        )
        return Response(server_json(server))


class MessageStreamListApi(ServerApiView):
    """``GET /message-streams?MessageStreamType=All|Transactional|Broadcasts|Inbound
    &IncludeArchivedStreams=false``."""

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


class MessageStreamDetailApi(ServerApiView):
    """``GET /message-streams/{id}``."""

    def get(self, request: Request, stream_id: str) -> Response:
        stream = selectors.stream_get(server=self.server, stream_id=stream_id)
        if stream is None:
            raise ApplicationError(
                STREAM_NOT_FOUND,
                f"The message stream '{stream_id}' was not found on this server.",
            )
        return Response(stream_json(stream))


urlpatterns = [
    path("server", ServerApi.as_view()),
    path("message-streams", MessageStreamListApi.as_view()),
    path("message-streams/<str:stream_id>", MessageStreamDetailApi.as_view()),
]
