"""The public tracking endpoints: ``/t/o/<token>`` (open pixel) and
``/t/c/<token>`` (click redirect). No authentication: the signed token is the
credential. A malformed, forged or altered token gets an empty 404 and never a
redirect, so the click endpoint is no open redirect."""

from __future__ import annotations

import base64

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotFound,
    HttpResponseRedirect,
)
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import tokens
from .buffer import hit_push

# The smallest transparent 1x1 GIF (43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _push(request: HttpRequest, token: str) -> None:
    if request.method == "HEAD":  # link checkers probing, not a reader
        return
    hit_push(
        token=token,
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )


@require_safe
@never_cache
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    parsed = tokens.decode(token)
    if parsed is None or parsed.kind != tokens.KIND_OPEN:
        return HttpResponseNotFound(b"", content_type="text/plain")
    _push(request, token)
    return HttpResponse(PIXEL, content_type="image/gif")


@require_safe
@never_cache
def click_redirect(request: HttpRequest, token: str) -> HttpResponse:
    parsed = tokens.decode(token)
    if parsed is None or parsed.kind == tokens.KIND_OPEN:
        return HttpResponseNotFound(b"", content_type="text/plain")
    _push(request, token)
    response = HttpResponseRedirect(parsed.url)
    response["Referrer-Policy"] = "no-referrer"
    return response


urlpatterns = [
    path("t/o/<str:token>", open_pixel),
    path("t/c/<str:token>", click_redirect),
]
