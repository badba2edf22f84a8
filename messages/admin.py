"""Admin: the sender pool with live route health (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .models import RouteHealth
from .pool import pool_status


@admin.register(RouteHealth)
class RouteHealthAdmin(admin.ModelAdmin):
    """Lists every ``SENDER_POOL`` route with the health every worker sees
    (Redis or this table). Routes come from configuration, so nothing here is
    editable."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Sender pool",
            "opts": self.model._meta,
            "routes": pool_status(),
        }
        return TemplateResponse(request, "admin/mail/sender_pool.html", context)
