"""The public tracking endpoints: ``/t/o/<token>`` (open pixel) and
``/t/c/<token>`` (click redirect). No authentication: the signed token is the
credential. A malformed, forged or altered token gets an empty 404 and never a
redirect, so the click endpoint is no open redirect.

``answer`` is the whole behaviour; the Django views below and the WSGI fast path
in ``tracking.wsgi`` (what gunicorn serves, skipping Django's middleware for
these hot paths) only adapt it.
"""

from __future__ import annotations

import base64

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from . import tokens
from .buffer import hit_push

# The smallest transparent 1x1 GIF (43 bytes).
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_COMMON = [
    ("Cache-Control", "no-cache, no-store, must-revalidate, max-age=0, private"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
]
_NOT_FOUND = (404, [("Content-Type", "text/plain"), ("Content-Length", "0")], b"")


def answer(
    *, kind: str, token: str, method: str, ip: str, user_agent: str
) -> tuple[int, list[tuple[str, str]], bytes]:
    """``(status, headers, body)`` for ``GET``/``HEAD /t/<kind>/<token>``
    (``kind`` ``o`` or ``c``), recording the hit unless it is a ``HEAD`` (link
    checkers probing, not a reader)."""
    parsed = tokens.decode(token)
    if parsed is None or (parsed.kind == tokens.KIND_OPEN) != (kind == "o"):
        return _NOT_FOUND
    if method != "HEAD":
        hit_push(token=token, ip=ip, user_agent=user_agent)
    if kind == "o":
        headers = [
            ("Content-Type", "image/gif"),
            ("Content-Length", str(len(PIXEL))),
            *_COMMON,
        ]
        return 200, headers, PIXEL
    # parsed.url passed tokens.decode's http/https check; quote nothing else.
    headers = [("Location", parsed.url), ("Content-Length", "0"), *_COMMON]
    return 302, headers, b""


def _view(kind: str):
    @csrf_exempt  # no cookies or state here; other methods get a plain 405
    @require_safe
    def view(request: HttpRequest, token: str) -> HttpResponse:
        status, headers, body = answer(
            kind=kind,
            token=token,
            method=request.method or "GET",
            ip=request.META.get("REMOTE_ADDR", ""),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        response = HttpResponse(body, status=status)
        for name, value in headers:
            if name != "Content-Length":
                response[name] = value
        return response

    view.__name__ = "open_pixel" if kind == "o" else "click_redirect"
    return view


open_pixel = _view("o")
click_redirect = _view("c")

urlpatterns = [
    path("t/o/<str:token>", open_pixel),
    path("t/c/<str:token>", click_redirect),
]
