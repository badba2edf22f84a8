"""Render every API error as Postmark's ``{"ErrorCode": n, "Message": "..."}``."""

from __future__ import annotations

import logging
import uuid

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response

from postmark_clone.errors import ApplicationError

logger = logging.getLogger(__name__)

# ErrorCodes whose HTTP status is not Postmark's usual 422.
HTTP_STATUS_BY_CODE = {10: 401, 12: 404, 100: 503, 101: 500, 1002: 400}

SERVER_TOKEN_MESSAGE = "Request does not contain a valid Server token."
ACCOUNT_TOKEN_MESSAGE = "Request does not contain a valid Account token."


class TokenInvalid(exceptions.AuthenticationFailed):
    def __init__(self, kind: str) -> None:
        super().__init__(
            SERVER_TOKEN_MESSAGE if kind == "server" else ACCOUNT_TOKEN_MESSAGE
        )


class TokenGuessingThrottled(exceptions.Throttled):
    """Too many wrong tokens from one client IP (``api.auth``)."""

    def __init__(self, wait: int) -> None:
        super().__init__(
            wait=wait,
            detail=(
                "Too many requests with an invalid API token from your address; "
                f"try again in up to {wait} seconds."
            ),
        )


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."


def error_response(code: int, message: str, status: int | None = None) -> Response:
    status = status or HTTP_STATUS_BY_CODE.get(code, 422)
    response = Response({"ErrorCode": code, "Message": message}, status=status)
    response["X-PM-ApiErrorCode"] = str(code)
    return response


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        return error_response(exc.code, exc.message)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        detail = str(exc.detail)
        if "valid" not in detail:
            detail = SERVER_TOKEN_MESSAGE
        return error_response(10, detail, 401)
    if isinstance(exc, exceptions.ParseError):
        return error_response(402, f"Received invalid JSON input: {exc.detail}")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return error_response(
            409,
            "JSON data required: send the body with Content-Type: application/json.",
            415,
        )
    if isinstance(exc, exceptions.NotAcceptable):
        return error_response(409, "This API only answers application/json.", 415)
    if isinstance(exc, exceptions.MethodNotAllowed):
        # Postmark answers a wrong method on a known path with an empty 405.
        return Response(status=405)
    if isinstance(exc, PayloadTooLarge):
        return error_response(300, str(exc.detail), 413)
    if isinstance(exc, Http404 | exceptions.NotFound):
        return error_response(404, "The requested resource was not found.", 404)
    if isinstance(exc, TokenGuessingThrottled):
        response = error_response(429, str(exc.detail), 429)
        response["Retry-After"] = str(int(exc.wait or 0))
        return response
    if isinstance(exc, exceptions.Throttled):
        return error_response(429, "Rate limit exceeded.", 429)
    if isinstance(exc, exceptions.ValidationError):
        return error_response(300, _flatten(exc.detail))
    if isinstance(exc, exceptions.APIException):
        return error_response(300, str(exc.detail), exc.status_code)
    error_id = uuid.uuid4()
    logger.exception("unhandled API error %s", error_id)
    return error_response(
        101, f"An unexpected error occurred (error id {error_id}).", 500
    )


def _flatten(detail: object) -> str:
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


# --- Django-level errors (outside DRF views) --------------------------------------
# Unknown paths, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, a bad Host header or a
# crash in middleware never reach DRF's handler. Postmark clients parse every
# error body as JSON (postmarker raises KeyError on anything else), so API paths
# answer {"ErrorCode", "Message"}; the web UI keeps Django's HTML pages.


def _is_api_path(request: HttpRequest) -> bool:
    from .middleware import NON_API_PREFIXES

    return not request.path.startswith(NON_API_PREFIXES)


def json_error(code: int, message: str, status: int) -> JsonResponse:
    response = JsonResponse({"ErrorCode": code, "Message": message}, status=status)
    response["X-PM-ApiErrorCode"] = str(code)
    return response


def django_bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api_path(request):
        return defaults.bad_request(request, exception)
    from django.core.exceptions import RequestDataTooBig

    if isinstance(exception, RequestDataTooBig):
        return json_error(300, "The request body is too large.", 413)
    return json_error(403, "The request could not be processed: it is malformed.", 400)


def django_permission_denied(
    request: HttpRequest, exception: Exception
) -> HttpResponse:
    if not _is_api_path(request):
        return defaults.permission_denied(request, exception)
    return json_error(10, SERVER_TOKEN_MESSAGE, 401)


def django_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _is_api_path(request):
        return defaults.page_not_found(request, exception)
    return json_error(
        404, f"There is no API endpoint at {request.path}; check the path.", 404
    )


def django_server_error(request: HttpRequest) -> HttpResponse:
    if not _is_api_path(request):
        return defaults.server_error(request)
    return json_error(101, "An unexpected error occurred; please retry later.", 500)
