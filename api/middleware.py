"""Postmark-style routing: case-insensitive paths and query keys, no slash redirects."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, QueryDict

# Paths served by Django itself keep their case and trailing slashes.
NON_API_PREFIXES = ("/ui", "/admin", "/static", "/metrics", "/health", "/t/")


class PostmarkPathMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if not path.startswith(NON_API_PREFIXES):
            normalized = path.lower().rstrip("/") or "/"
            if normalized != path:
                request.path_info = normalized
            if request.GET:
                request.GET = _lowercase_keys(request.GET)
        return self.get_response(request)


def _lowercase_keys(query: QueryDict) -> QueryDict:
    """Lower-case query keys; ``metadata_<key>`` keeps the case of ``<key>``."""
    result = QueryDict(mutable=True)
    for key, values in query.lists():
        head, sep, tail = key.partition("_")
        new_key = (
            f"{head.lower()}{sep}{tail}" if head.lower() == "metadata" else key.lower()
        )
        result.setlist(new_key, values)
    result._mutable = False
    return result
