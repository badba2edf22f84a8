"""Operator endpoints: ``GET /metrics`` (Prometheus) and ``GET /health/routes``.

Not part of Postmark's API. When ``METRICS_TOKEN`` is set both require
``Authorization: Bearer <token>``; otherwise they are open (bind the web
process to a private address, as ``make run`` does).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from messages.metrics import metrics_render
from messages.pool import pool_status


def _authorized(request: HttpRequest) -> bool:
    if not settings.METRICS_TOKEN:
        return True
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), settings.METRICS_TOKEN.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    body, content_type = metrics_render()
    return HttpResponse(body, content_type=content_type)


@require_GET
def route_health_view(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        return JsonResponse({"ErrorCode": 10, "Message": "Unauthorized"}, status=401)
    routes = pool_status()
    return JsonResponse(
        {"Routes": routes, "UpCount": sum(1 for r in routes if r["Up"])}
    )


urlpatterns = [
    path("metrics", metrics_view, name="metrics"),
    path("health/routes", route_health_view, name="health-routes"),
]
