"""Postmark's server API (``X-Postmark-Server-Token``): ``/server``.
``/message-streams`` lives in ``api.views.message_streams``."""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import services

from ..base import ServerApiView
from ..representations import server_input, server_json


class ServerApi(ServerApiView):
    """``GET /server`` and ``PUT /server``: the token's own server."""

    def get(self, request: Request) -> Response:
        return Response(server_json(self.server))

    def put(self, request: Request) -> Response:
        server = services.server_update(
            server=self.server, **server_input(request.data)
        )
        return Response(server_json(server))


urlpatterns = [
    path("server", ServerApi.as_view()),
]
