"""Reads for tenancy. Every lookup is scoped to the tenant that asks."""

from __future__ import annotations

import hmac

from django.db.models import Prefetch, QuerySet

from .models import Account, AccountToken, Domain, MessageStream, Server, ServerToken
from .tokens import token_hash, token_prefix


def server_for_token(*, token: str) -> Server | None:
    """The server a live server token belongs to, or ``None``.

    Looked up by the indexed prefix, then compared in constant time.
    """
    if not token:
        return None
    digest = token_hash(token)
    candidates = ServerToken.objects.select_related("server", "server__account").filter(
        prefix=token_prefix(token), revoked_at__isnull=True
    )
    for row in candidates:
        if hmac.compare_digest(row.token_hash, digest):
            return row.server
    return None


def account_for_token(*, token: str) -> Account | None:
    """The account a live account token belongs to, or ``None``."""
    if not token:
        return None
    digest = token_hash(token)
    candidates = AccountToken.objects.select_related("account").filter(
        prefix=token_prefix(token), revoked_at__isnull=True
    )
    for row in candidates:
        if hmac.compare_digest(row.token_hash, digest):
            return row.account
    return None


def _active_tokens() -> Prefetch:
    return Prefetch(
        "tokens",
        queryset=ServerToken.objects.filter(revoked_at__isnull=True).order_by("id"),
        to_attr="active_tokens",
    )


def server_list(*, account: Account, name: str = "") -> QuerySet[Server]:
    """The account's servers, oldest first, optionally filtered by a case-
    insensitive ``name`` substring. Each row carries ``active_tokens`` (one
    prefetch query for the whole page)."""
    qs = Server.objects.filter(account=account).order_by("id")
    if name:
        qs = qs.filter(name__icontains=name)
    return qs.prefetch_related(_active_tokens())


def server_get(*, account: Account, server_id: int) -> Server | None:
    """The account's server ``server_id`` (with ``active_tokens``), or ``None``
    when it does not exist or belongs to another account."""
    return (
        Server.objects.filter(account=account, id=server_id)
        .prefetch_related(_active_tokens())
        .first()
    )


def server_tokens(*, server: Server) -> list[ServerToken]:
    """The server's live (unrevoked) tokens, oldest first; uses the prefetched
    ``active_tokens`` when the server came from ``server_list``/``server_get``."""
    prefetched = getattr(server, "active_tokens", None)
    if prefetched is not None:
        return prefetched
    return list(
        ServerToken.objects.filter(server=server, revoked_at__isnull=True).order_by(
            "id"
        )
    )


def stream_list(
    *, server: Server, stream_type: str = "", include_archived: bool = False
) -> QuerySet[MessageStream]:
    """The server's message streams, oldest first. ``stream_type`` is one of
    ``MessageStream.Type`` (any case) or ``""``/``"All"``; archived streams are
    left out unless ``include_archived``."""
    qs = MessageStream.objects.filter(server=server).order_by("id")
    if stream_type and stream_type.lower() != "all":
        qs = qs.filter(stream_type__iexact=stream_type)
    if not include_archived:
        qs = qs.filter(archived_at__isnull=True)
    return qs


def stream_get(*, server: Server, stream_id: str) -> MessageStream | None:
    """The server's stream with this ID (IDs are lower-case), or ``None``."""
    return MessageStream.objects.filter(
        server=server, stream_id=stream_id.lower()
    ).first()


def domain_list(*, account: Account) -> QuerySet[Domain]:
    """The account's sender domains, oldest first."""
    return Domain.objects.filter(account=account).order_by("id")


def domain_get(*, account: Account, domain_id: int) -> Domain | None:
    """The account's domain ``domain_id``, or ``None`` when it does not exist or
    belongs to another account."""
    return Domain.objects.filter(account=account, id=domain_id).first()


def domain_for_sender(*, account: Account, email: str) -> Domain | None:
    """The account's domain that may send as ``email``: the address's domain or a
    parent of it (mail from ``news.example.com`` may use ``example.com``)."""
    host = email.rpartition("@")[2].lower()
    labels = host.split(".")
    names = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    if not names:
        return None
    by_name = {
        d.name: d for d in Domain.objects.filter(account=account, name__in=names)
    }
    for name in names:
        if name in by_name:
            return by_name[name]
    return None
