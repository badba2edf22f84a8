"""Token authentication for Postmark's two token headers."""

from __future__ import annotations

import copy
import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import Account, Server
from accounts.selectors import account_for_token, server_for_token
from accounts.tokens import token_hash
from postmark_clone.lookup_cache import LookupCache

from .errors import TokenGuessingThrottled, TokenInvalid

TEST_TOKEN = "POSTMARK_API_TEST"
log = logging.getLogger(__name__)

# token hash -> Server; the token lookup was one query per request.
_server_tokens: LookupCache[Server] = LookupCache("server-tokens")


def _clone(server: Server) -> Server:
    """A private copy of a cached server, so a view that edits ``request.auth``
    never changes what other requests see."""
    clone = copy.copy(server)
    clone._state = copy.copy(server._state)
    clone._state.fields_cache = dict(server._state.fields_cache)
    return clone


# --- Token guessing: a fixed-window failure counter per client IP --------------
# A wrong token costs the client one count in the shared cache (Redis when
# REDIS_URL is set); after API_TOKEN_FAILURE_LIMIT of them within the window,
# every request from that IP whose token is not already in this process's
# lookup cache answers 429 without touching the database. Tokens carry 122
# random bits, so the limit sheds load and noise rather than protecting the
# key space; the comparison itself stays constant-time (accounts.selectors).


def token_failure_key(ip: str) -> str:
    """The cache key counting wrong tokens from client ``ip``."""
    return "api-token-fail:" + hashlib.sha256(ip.encode()).hexdigest()[:32]


def _failure_key(request: Request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted
    # proxy rewrites it (same rule as web.ratelimit).
    return token_failure_key(request.META.get("REMOTE_ADDR", ""))


def _check_not_blocked(request: Request) -> None:
    limit = settings.API_TOKEN_FAILURE_LIMIT
    if limit <= 0:
        return
    try:
        failures = cache.get(_failure_key(request), 0)
    except (RedisError, OSError) as exc:
        # Fails open, like the SMTP limits: an outage of the counter's store
        # must not stop the API.
        log.warning("token failure counter unavailable, allowing: %s", exc)
        return
    if failures >= limit:
        raise TokenGuessingThrottled(settings.API_TOKEN_FAILURE_WINDOW_SECONDS)


def _count_failure(request: Request) -> None:
    if settings.API_TOKEN_FAILURE_LIMIT <= 0:
        return
    key = _failure_key(request)
    window = settings.API_TOKEN_FAILURE_WINDOW_SECONDS
    try:
        cache.add(key, 0, timeout=window)  # the window starts at the 1st failure
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
    except (RedisError, OSError) as exc:
        log.warning("token failure counter unavailable: %s", exc)


def _guarded(request: Request, lookup, token: str):
    """``lookup(token=token)`` unless this client is blocked; a miss counts."""
    _check_not_blocked(request)
    # Tokens are printable ASCII; anything else (a NUL would fail the query)
    # is simply wrong.
    found = lookup(token=token) if token.isascii() and token.isprintable() else None
    if found is None:
        _count_failure(request)
    return found


class TestModeServer:
    """``request.auth`` for the ``POSTMARK_API_TEST`` token: validate, store nothing."""


class ServerTokenAuthentication(BaseAuthentication):
    allow_test_token = False

    def authenticate(self, request: Request):
        token = request.META.get("HTTP_X_POSTMARK_SERVER_TOKEN", "").strip()
        if not token:
            raise TokenInvalid("server")
        if token == TEST_TOKEN:
            return (None, TestModeServer())
        server = _server_tokens.get(
            token_hash(token), lambda: _guarded(request, server_for_token, token)
        )
        if server is None:
            raise TokenInvalid("server")
        return (None, _clone(server))

    def authenticate_header(self, request: Request) -> str:
        return "X-Postmark-Server-Token"


class AccountTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request):
        token = request.META.get("HTTP_X_POSTMARK_ACCOUNT_TOKEN", "").strip()
        account = _guarded(request, account_for_token, token) if token else None
        if account is None:
            raise TokenInvalid("account")
        return (None, account)

    def authenticate_header(self, request: Request) -> str:
        return "X-Postmark-Account-Token"


class HasServer(BasePermission):
    """A real server token (the test token only reaches the send endpoints)."""

    def has_permission(self, request: Request, view) -> bool:
        if isinstance(request.auth, Server):
            return True
        if isinstance(request.auth, TestModeServer) and getattr(
            view, "allow_test_token", False
        ):
            return True
        raise TokenInvalid("server")


class HasAccount(BasePermission):
    def has_permission(self, request: Request, view) -> bool:
        if isinstance(request.auth, Account):
            return True
        raise TokenInvalid("account")
