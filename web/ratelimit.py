"""Login throttling: a fixed-window failure counter per (client IP, username) in
the shared cache (Redis when ``REDIS_URL`` is set)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def _key(request: HttpRequest, username: str) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted
    # proxy rewrites it, and trusting it would let attackers pick their bucket.
    ip = request.META.get("REMOTE_ADDR", "")
    raw = f"{ip}|{username.strip().lower()}".encode()
    return "login-fail:" + hashlib.sha256(raw).hexdigest()


def login_blocked(request: HttpRequest, username: str) -> bool:
    """True once ``LOGIN_FAILURE_LIMIT`` failures happened within the window."""
    return cache.get(_key(request, username), 0) >= settings.LOGIN_FAILURE_LIMIT


def login_failed(request: HttpRequest, username: str) -> None:
    """Count one failure; the window starts at the first failure."""
    key = _key(request, username)
    cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def login_succeeded(request: HttpRequest, username: str) -> None:
    cache.delete(_key(request, username))
