"""Every web UI page is authorised through account membership: another
account's server, message, bounce, token, domain or team is a 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, ServerToken
from bounces.models import Bounce, Suppression

from .conftest import make_user

pytestmark = pytest.mark.django_db


def other_urls(w):
    """(method, url) for every page, pointing at the OTHER tenant's objects."""
    s = w.other.server.id
    mid = w.other_message.message_id
    token = ServerToken.objects.filter(server=w.other.server).first()
    return [
        ("get", reverse("web:activity", args=[s])),
        ("get", reverse("web:message", args=[s, mid])),
        ("get", reverse("web:message_html", args=[s, mid])),
        ("get", reverse("web:message_raw", args=[s, mid])),
        ("get", reverse("web:bounces", args=[s])),
        ("get", reverse("web:bounce_detail", args=[s, w.other_bounce.id])),
        ("post", reverse("web:bounce_activate", args=[s, w.other_bounce.id])),
        ("get", reverse("web:suppressions", args=[s])),
        ("post", reverse("web:suppressions", args=[s])),
        ("post", reverse("web:suppression_remove", args=[s])),
        ("get", reverse("web:suppression_csv", args=[s])),
        ("get", reverse("web:statistics", args=[s])),
        ("get", reverse("web:settings", args=[s])),
        ("post", reverse("web:token_create", args=[s])),
        ("post", reverse("web:token_revoke", args=[s, token.id])),
        ("post", reverse("web:webhooks_update", args=[s])),
        ("post", reverse("web:retention_update", args=[s])),
        ("post", reverse("web:domain_verify", args=[s, w.other.domain.id])),
        ("get", reverse("web:team", args=[w.other.account.id])),
        ("post", reverse("web:team", args=[w.other.account.id])),
    ]


def test_another_accounts_objects_are_404_on_every_page(world):
    w = world
    for method, url in other_urls(w):
        response = getattr(w.client, method)(
            url,
            {
                "email": "carol@example.org",
                "emails": "x@example.org",
                "name": "t",
                "retention_days": 9,
                "role": "admin",
            },
        )
        assert response.status_code == 404, (method, url, response.status_code)
    # Nothing of the other tenant changed.
    w.other_bounce.refresh_from_db()
    assert w.other_bounce.inactive
    assert Suppression.objects.filter(
        server=w.other.server, email="carol@example.org"
    ).exists()
    assert not ServerToken.objects.filter(
        server=w.other.server, revoked_at__isnull=False
    ).exists()
    w.other.server.refresh_from_db()
    assert w.other.server.retention_days == 45
    assert not Membership.objects.filter(account=w.other.account).exists()


def test_a_message_of_another_server_is_404_even_under_my_server(world):
    w = world
    mine = w.tenant.server.id
    for url in (
        reverse("web:message", args=[mine, w.other_message.message_id]),
        reverse("web:message_html", args=[mine, w.other_message.message_id]),
        reverse("web:bounce_detail", args=[mine, w.other_bounce.id]),
    ):
        assert w.client.get(url).status_code == 404, url
    token = ServerToken.objects.filter(server=w.other.server).first()
    response = w.client.post(reverse("web:token_revoke", args=[mine, token.id]))
    assert response.status_code == 404
    assert (
        w.client.post(
            reverse("web:bounce_activate", args=[mine, w.other_bounce.id])
        ).status_code
        == 404
    )
    assert Bounce.objects.get(id=w.other_bounce.id).inactive


def test_my_own_pages_answer_200(world):
    w = world
    s = w.tenant.server.id
    for url in (
        reverse("web:index"),
        reverse("web:activity", args=[s]),
        reverse("web:message", args=[s, w.message.message_id]),
        reverse("web:message_html", args=[s, w.message.message_id]),
        reverse("web:message_raw", args=[s, w.message.message_id]),
        reverse("web:bounces", args=[s]),
        reverse("web:bounce_detail", args=[s, w.bounce.id]),
        reverse("web:suppressions", args=[s]),
        reverse("web:suppression_csv", args=[s]),
        reverse("web:statistics", args=[s]),
        reverse("web:settings", args=[s]),
        reverse("web:team", args=[w.tenant.account.id]),
    ):
        assert w.client.get(url).status_code == 200, url


def test_anonymous_visitors_are_sent_to_the_login_page(world):
    url = reverse("web:activity", args=[world.tenant.server.id])
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/ui/login?next=")
    response = Client().get(
        reverse(
            "web:message_raw", args=[world.tenant.server.id, world.message.message_id]
        )
    )
    assert response.status_code == 302


def test_members_can_read_but_only_admins_change_settings(world, tenant):
    member = make_user(tenant, role=Membership.Role.MEMBER)
    client = Client()
    client.force_login(member)
    s = tenant.server.id
    assert client.get(reverse("web:settings", args=[s])).status_code == 200
    token = ServerToken.objects.filter(server=tenant.server).first()
    assert (
        client.post(reverse("web:token_revoke", args=[s, token.id])).status_code == 403
    )
    assert (
        client.post(reverse("web:token_create", args=[s]), {"name": "x"}).status_code
        == 403
    )
    assert (
        client.post(
            reverse("web:retention_update", args=[s]), {"retention_days": 9}
        ).status_code
        == 403
    )
    token.refresh_from_db()
    assert token.revoked_at is None
    assert ServerToken.objects.filter(server=tenant.server).count() == 1


def test_the_api_at_the_host_root_still_works(world, api):
    response = api.send_json(
        "POST",
        "/email",
        {
            "From": world.tenant.sender,
            "To": "x@example.org",
            "Subject": "s",
            "TextBody": "t",
        },
        **world.tenant.server_headers,
    )
    assert response.status_code == 200
    assert response.json()["ErrorCode"] == 0
