"""``POST /email`` and ``POST /email/batch``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import QueryDict
from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response

from messages.services import (
    SendResult,
    message_send,
    message_send_batch,
    message_validate,
)
from postmark_clone.errors import ApplicationError

from ..auth import TestModeServer
from ..base import ServerApiView
from ..errors import PayloadTooLarge
from ..serializers import parse_email, send_result

MAX_BATCH = 500
MAX_BATCH_BYTES = 50 * 1024 * 1024
TEST_MESSAGE = "Test job accepted"


def _check_size(request: Request, limit: int) -> None:
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(
            f"The request body is {int(length)} bytes; the limit is {limit} bytes."
        )


def _json_body(request: Request) -> Any:
    """The parsed JSON document; an empty body is Postmark's 402 (invalid JSON)."""
    data = request.data
    # DRF skips the parser for an empty body and hands back {} or a QueryDict.
    if data is None or isinstance(data, QueryDict) or request.stream is None:
        raise ApplicationError(
            402, "Received invalid JSON input: the request body is empty."
        )
    return data


def _test_result(email) -> dict:
    import uuid

    from django.utils import timezone

    message_validate(email=email, server=None)
    result = SendResult(
        message_id=str(uuid.uuid4()),
        submitted_at=timezone.now(),
        to=email.to,
        message=TEST_MESSAGE,
    )
    return send_result(result)


def _error_item(exc: ApplicationError) -> dict:
    return {"ErrorCode": exc.code, "Message": exc.message}


class EmailSendApi(ServerApiView):
    allow_test_token = True

    def post(self, request: Request) -> Response:
        _check_size(request, settings.MAX_MESSAGE_BYTES)
        email = parse_email(_json_body(request))
        if isinstance(request.auth, TestModeServer):
            return Response(_test_result(email))
        return Response(send_result(message_send(server=self.server, email=email)))


class EmailBatchApi(ServerApiView):
    allow_test_token = True

    def post(self, request: Request) -> Response:
        _check_size(request, MAX_BATCH_BYTES)
        items = _json_body(request)
        if not isinstance(items, list):
            raise ApplicationError(
                402, "Received invalid JSON input: expected a JSON array of messages."
            )
        batch_check_length(items)
        parsed = batch_parse(items, parse_email)
        if isinstance(request.auth, TestModeServer):
            return batch_test_answer(parsed)
        return batch_answer(message_send_batch(server=self.server, emails=parsed))


# --- shared by the batch endpoints (/email/batch, /email/batchWithTemplates) ------


def batch_check_length(items: list) -> None:
    if len(items) > MAX_BATCH:
        raise ApplicationError(
            410,
            f"You may send at most {MAX_BATCH} messages in a batch; "
            f"this one has {len(items)}.",
        )


def batch_parse(items: list, parse: Callable[[Any], Any]) -> list:
    """Each item parsed, or the ApplicationError it raised (answered in place)."""
    parsed: list = []
    for item in items:
        try:
            parsed.append(parse(item))
        except ApplicationError as exc:
            parsed.append(exc)
    return parsed


def batch_test_answer(parsed: list, email_of: Callable[[Any], Any] = lambda e: e):
    """What Postmark's test token answers for a batch: validated, nothing sent."""
    out = []
    for item in parsed:
        try:
            if isinstance(item, ApplicationError):
                raise item
            out.append(_test_result(email_of(item)))
        except ApplicationError as exc:
            out.append(_error_item(exc))
    return Response(out)


def batch_answer(results: list) -> Response:
    return Response(
        [
            _error_item(r) if isinstance(r, ApplicationError) else send_result(r)
            for r in results
        ]
    )


urlpatterns = [
    path("email", EmailSendApi.as_view()),
    path("email/batch", EmailBatchApi.as_view()),
]
