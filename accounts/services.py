"""Writes for tenancy: accounts, servers, streams, domains and tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import transaction
from django.utils import timezone

from messages.dkim import dkim_keypair_generate

from .models import Account, AccountToken, Domain, MessageStream, Server, ServerToken
from .tokens import token_generate, token_hash, token_prefix

DEFAULT_STREAMS = (
    (
        "outbound",
        "Default Transactional Stream",
        MessageStream.Type.TRANSACTIONAL,
        "None",
    ),
    ("inbound", "Default Inbound Stream", MessageStream.Type.INBOUND, "None"),
    (
        "broadcast",
        "Default Broadcast Stream",
        MessageStream.Type.BROADCASTS,
        "Postmark",
    ),
)


T = TypeVar("T")


@dataclass(frozen=True)
class Created(Generic[T]):
    """A freshly created object plus the one-time plaintext of its token."""

    obj: T
    token: str


def account_create(*, name: str) -> Created[Account]:
    """Create an account with one account token. Not idempotent."""
    with transaction.atomic():
        account = Account.objects.create(name=name)
        token = account_token_create(account=account).token
    return Created(account, token)


def account_token_create(*, account: Account, name: str = "") -> Created[AccountToken]:
    plaintext = token_generate()
    row = AccountToken.objects.create(
        account=account,
        prefix=token_prefix(plaintext),
        token_hash=token_hash(plaintext),
        name=name,
    )
    return Created(row, plaintext)


def server_token_create(*, server: Server, name: str = "") -> Created[ServerToken]:
    """Add a server API token. The plaintext is returned once and never stored."""
    plaintext = token_generate()
    row = ServerToken.objects.create(
        server=server,
        prefix=token_prefix(plaintext),
        token_hash=token_hash(plaintext),
        name=name,
    )
    return Created(row, plaintext)


def token_revoke(*, token: AccountToken | ServerToken) -> None:
    """Revoke a token; safe to call twice."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def server_create(
    *, account: Account, name: str, **settings_fields: object
) -> Created[Server]:
    """Create a server with its default streams and a first API token."""
    with transaction.atomic():
        server = Server(account=account, name=name, inbound_hash=secrets.token_hex(16))
        for field, value in settings_fields.items():
            setattr(server, field, value)
        server.full_clean(exclude=["account"], validate_unique=False)
        server.save()
        MessageStream.objects.bulk_create(
            MessageStream(
                server=server,
                stream_id=stream_id,
                name=stream_name,
                stream_type=stream_type,
                unsubscribe_handling=unsubscribe,
            )
            for stream_id, stream_name, stream_type, unsubscribe in DEFAULT_STREAMS
        )
        token = server_token_create(server=server).token
    return Created(server, token)


def domain_create(
    *, account: Account, name: str, return_path_domain: str = ""
) -> Domain:
    """Create a sender domain with its own RSA-2048 DKIM key (generated before
    the transaction: key generation takes tens of milliseconds)."""
    private_pem, public_b64 = dkim_keypair_generate()
    selector = timezone.now().strftime("%Y%m%d%H%M%S") + "pm"
    return Domain.objects.create(
        account=account,
        name=name.strip().lower(),
        dkim_selector=selector,
        dkim_private_key=private_pem,
        dkim_public_key=public_b64,
        return_path_domain=return_path_domain.strip().lower(),
    )
