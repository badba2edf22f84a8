"""Test data builders: a whole tenant (account → server → domain) in one call."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from accounts import services
from accounts.models import Account, Domain, Server
from messages.dkim import dkim_keypair_generate


@functools.cache
def cached_dkim_keypair() -> tuple[str, str]:
    # RSA-2048 generation costs ~0.1 s; one key serves every test tenant.
    return dkim_keypair_generate()


@dataclass
class Tenant:
    account: Account
    account_token: str
    server: Server
    server_token: str
    domain: Domain

    @property
    def server_headers(self) -> dict[str, str]:
        return {"HTTP_X_POSTMARK_SERVER_TOKEN": self.server_token}

    @property
    def account_headers(self) -> dict[str, str]:
        return {"HTTP_X_POSTMARK_ACCOUNT_TOKEN": self.account_token}

    @property
    def sender(self) -> str:
        return f"sender@{self.domain.name}"


def make_domain(*, account: Account, name: str) -> Domain:
    private_pem, public_b64 = cached_dkim_keypair()
    return Domain.objects.create(
        account=account,
        name=name,
        dkim_selector="20260101000000pm",
        dkim_private_key=private_pem,
        dkim_public_key=public_b64,
    )


def make_tenant(name: str = "acme", domain: str | None = None) -> Tenant:
    created = services.account_create(name=name)
    server = services.server_create(account=created.obj, name=f"{name} server")
    dom = make_domain(account=created.obj, name=domain or f"{name}.example.com")
    return Tenant(created.obj, created.token, server.obj, server.token, dom)
