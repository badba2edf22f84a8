"""Postmark's webhook management API: ``/webhooks`` and ``/webhooks/{id}``.

``{id}`` patterns are int-typed so ``/webhooks/bounce`` (the sender-pool bounce
endpoint, ``api/views/pool_webhooks.py``) never reaches these views.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from postmark_clone.errors import ApplicationError
from webhooks.models import Webhook
from webhooks.selectors import webhook_get, webhook_list
from webhooks.services import (
    WebhookInput,
    webhook_create,
    webhook_delete,
    webhook_update,
)

from ..base import ServerApiView, query_param


def webhook_json(hook: Webhook) -> dict[str, Any]:
    """Postmark's Webhook object, plus ``SigningSecret``: the key of our
    ``X-PM-Signature`` header (an extra key; clients ignore unknown keys)."""
    has_auth = bool(hook.http_auth_username or hook.http_auth_password)
    return {
        "ID": hook.id,
        "Url": hook.url,
        "MessageStream": hook.message_stream,
        # Postmark answers {"Username": null, "Password": null} without credentials.
        "HttpAuth": {
            "Username": hook.http_auth_username if has_auth else None,
            "Password": hook.http_auth_password if has_auth else None,
        },
        "HttpHeaders": hook.http_headers or [],
        "Triggers": hook.triggers,
        "SigningSecret": hook.signing_secret,
    }


def _input(data: Any) -> WebhookInput:
    if not isinstance(data, dict) or not data:
        raise ApplicationError(1355, "The request body is missing or empty.")
    # Treat JSON null and "" as absent (Postmark clients send both).
    given = {k: v for k, v in data.items() if v is not None and v != ""}
    stream = given.get("MessageStream")
    if stream is not None and not isinstance(stream, str):
        raise ApplicationError(1361, "MessageStream must be text.")
    url = given.get("Url")
    if url is not None and not isinstance(url, str):
        raise ApplicationError(1354, "The webhook Url is missing or invalid.")
    return WebhookInput(
        url=url,
        message_stream=stream,
        http_auth=given.get("HttpAuth"),
        http_headers=given.get("HttpHeaders"),
        triggers=given.get("Triggers"),
        id=given.get("ID"),
        status=given.get("Status"),
    )


def _not_found() -> ApplicationError:
    return ApplicationError(1352, "Webhook not found.")


class WebhookListCreateApi(ServerApiView):
    def get(self, request: Request) -> Response:
        hooks = webhook_list(
            server=self.server, message_stream=query_param(request, "messagestream")
        )
        return Response({"Webhooks": [webhook_json(h) for h in hooks]})

    def post(self, request: Request) -> Response:
        hook = webhook_create(server=self.server, data=_input(request.data))
        return Response(webhook_json(hook))


class WebhookDetailApi(ServerApiView):
    def get(self, request: Request, webhook_id: int) -> Response:
        hook = webhook_get(server=self.server, webhook_id=webhook_id)
        if hook is None:
            raise _not_found()
        return Response(webhook_json(hook))

    def put(self, request: Request, webhook_id: int) -> Response:
        hook = webhook_update(
            server=self.server, webhook_id=webhook_id, data=_input(request.data)
        )
        return Response(webhook_json(hook))

    def delete(self, request: Request, webhook_id: int) -> Response:
        webhook_delete(server=self.server, webhook_id=webhook_id)
        return Response({"ErrorCode": 0, "Message": f"Webhook {webhook_id} removed."})


urlpatterns = [
    path("webhooks", WebhookListCreateApi.as_view()),
    path("webhooks/<int:webhook_id>", WebhookDetailApi.as_view()),
]
