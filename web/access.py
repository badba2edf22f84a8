"""Authorisation for the web UI: every object is reached through the user's
memberships, so another account's server, message or bounce is a plain 404
(indistinguishable from a missing one)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest

from accounts.models import Account, Membership, Server


@dataclass(frozen=True)
class ServerAccess:
    server: Server
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Membership.Role.ADMIN


def server_for_request(request: HttpRequest, server_id: int) -> ServerAccess:
    """The server ``server_id`` if the logged-in user is a member of its account,
    with the user's role; otherwise ``Http404``. One query."""
    role = Membership.objects.filter(
        user_id=request.user.pk, account_id=OuterRef("account_id")
    ).values("role")[:1]
    server = (
        Server.objects.select_related("account")
        .annotate(member_role=Subquery(role))
        .filter(id=server_id, member_role__isnull=False)
        .first()
    )
    if server is None:
        raise Http404("No such server.")
    return ServerAccess(server=server, role=server.member_role)


def account_for_request(request: HttpRequest, account_id: int) -> tuple[Account, str]:
    """The account and the user's role on it, or ``Http404``."""
    membership = (
        Membership.objects.select_related("account")
        .filter(user_id=request.user.pk, account_id=account_id)
        .first()
    )
    if membership is None:
        raise Http404("No such account.")
    return membership.account, membership.role


def require_admin(role: str) -> None:
    """Admin-only actions (tokens, domains, webhooks, retention, team)."""
    if role != Membership.Role.ADMIN:
        raise PermissionDenied("Only account admins can change this.")
