"""Token authentication for Postmark's two token headers."""

from __future__ import annotations

import copy

from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import Account, Server
from accounts.selectors import account_for_token, server_for_token
from accounts.tokens import token_hash
from postmark_clone.lookup_cache import LookupCache

from .errors import TokenInvalid

TEST_TOKEN = "POSTMARK_API_TEST"

# token hash -> Server; the token lookup was one query per request.
_server_tokens: LookupCache[Server] = LookupCache("server-tokens")


def _clone(server: Server) -> Server:
    """A private copy of a cached server, so a view that edits ``request.auth``
    never changes what other requests see."""
    clone = copy.copy(server)
    clone._state = copy.copy(server._state)
    clone._state.fields_cache = dict(server._state.fields_cache)
    return clone


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
            token_hash(token), lambda: server_for_token(token=token)
        )
        if server is None:
            raise TokenInvalid("server")
        return (None, _clone(server))

    def authenticate_header(self, request: Request) -> str:
        return "X-Postmark-Server-Token"


class AccountTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request):
        token = request.META.get("HTTP_X_POSTMARK_ACCOUNT_TOKEN", "").strip()
        account = account_for_token(token=token) if token else None
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
