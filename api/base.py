"""Base views: one per token type. Views are thin edges over services/selectors."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.models import Account, Server

from .auth import (
    AccountTokenAuthentication,
    HasAccount,
    HasServer,
    ServerTokenAuthentication,
)


class PostmarkApiView(APIView):
    """Routes before it authenticates, as Postmark does: a known path with a wrong
    method answers an empty 405 whatever the token (postmark-api.md §1)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)


class ServerApiView(PostmarkApiView):
    """Authenticated by ``X-Postmark-Server-Token``; ``self.server`` is the tenant."""

    authentication_classes = [ServerTokenAuthentication]
    permission_classes = [HasServer]
    allow_test_token = False

    @property
    def server(self) -> Server:
        return self.request.auth  # type: ignore[return-value]


class AccountApiView(PostmarkApiView):
    """Authenticated by ``X-Postmark-Account-Token``; ``self.account`` is the tenant."""

    authentication_classes = [AccountTokenAuthentication]
    permission_classes = [HasAccount]

    @property
    def account(self) -> Account:
        return self.request.auth  # type: ignore[return-value]


def query_param(request: Request, *names: str, default: str = "") -> str:
    """First non-empty query value among ``names`` (keys are already lower-cased)."""
    for name in names:
        value = request.query_params.get(name.lower())
        if value not in (None, ""):
            return value
    return default
