"""A WSGI fast path for ``GET``/``HEAD /t/o/<token>`` and ``/t/c/<token>``.

These endpoints take thousands of requests per second and need nothing from
Django's request machinery (no session, CSRF, auth or database), so the WSGI
application answers them before Django sees them (the profile in
docs/benchmarks.md showed the middleware stack costing as much as the endpoint).
Everything else, and any other method on these paths, goes to Django.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .views import answer

_REASONS = {200: "200 OK", 302: "302 Found", 404: "404 Not Found"}


class TrackingFastPath:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if (
            method in ("GET", "HEAD")
            and path[:5] in ("/t/o/", "/t/c/")
            and "/" not in path[5:]
        ):
            status, headers, body = answer(
                kind=path[3],
                token=path[5:],
                method=method,
                ip=environ.get("REMOTE_ADDR", ""),
                user_agent=environ.get("HTTP_USER_AGENT", ""),
            )
            start_response(_REASONS[status], headers)
            return [b""] if method == "HEAD" else [body]
        return self.app(environ, start_response)
