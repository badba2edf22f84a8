"""API tokens: random, shown once, stored hashed, found by prefix, revocable."""

from __future__ import annotations

import pytest

from accounts import selectors, services
from accounts.models import AccountToken, ServerToken
from accounts.tokens import token_hash

pytestmark = pytest.mark.django_db


def test_tokens_are_stored_only_as_hashes(tenant):
    for model, plaintext in (
        (ServerToken, tenant.server_token),
        (AccountToken, tenant.account_token),
    ):
        row = model.objects.get(token_hash=token_hash(plaintext))
        values = [str(v) for v in model.objects.values_list().get(pk=row.pk)]
        assert plaintext not in values
        assert row.prefix == plaintext[:12]


def test_each_token_is_random(tenant):
    tokens = {
        services.server_token_create(server=tenant.server).token for _ in range(5)
    }
    assert len(tokens) == 5
    assert all(len(token) == 36 for token in tokens)


def test_a_server_can_have_several_live_tokens(tenant):
    second = services.server_token_create(server=tenant.server, name="ci")
    assert selectors.server_for_token(token=tenant.server_token) == tenant.server
    assert selectors.server_for_token(token=second.token) == tenant.server
    assert len(selectors.server_tokens(server=tenant.server)) == 2


def test_token_values_are_matched_ignoring_case_and_spaces(tenant):
    assert (
        selectors.server_for_token(token=f" {tenant.server_token.upper()} ")
        == tenant.server
    )


def test_a_revoked_token_no_longer_authenticates(tenant):
    row = ServerToken.objects.get(server=tenant.server)
    services.token_revoke(token=row)
    services.token_revoke(token=row)  # safe to call twice
    assert selectors.server_for_token(token=tenant.server_token) is None
    account_row = AccountToken.objects.get(account=tenant.account)
    services.token_revoke(token=account_row)
    assert selectors.account_for_token(token=tenant.account_token) is None


def test_a_token_reaches_only_its_own_kind_and_tenant(tenant, other_tenant):
    assert selectors.server_for_token(token=tenant.account_token) is None
    assert selectors.account_for_token(token=tenant.server_token) is None
    assert selectors.server_for_token(token=other_tenant.server_token) == (
        other_tenant.server
    )
    assert selectors.server_for_token(token="") is None
    # Same prefix, different secret: the constant-time comparison refuses it.
    forged = tenant.server_token[:12] + "0" * 24
    assert selectors.server_for_token(token=forged) is None


def test_a_new_account_token_works_alongside_the_first(tenant):
    extra = services.account_token_create(account=tenant.account, name="script")
    assert selectors.account_for_token(token=extra.token) == tenant.account
    assert selectors.account_for_token(token=tenant.account_token) == tenant.account
