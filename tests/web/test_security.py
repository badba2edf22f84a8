"""CSRF, login rate limiting, escaping and the message preview's policy."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ServerToken

from .conftest import PASSWORD, make_user, send, unique_email

pytestmark = pytest.mark.django_db


def test_a_post_without_csrf_token_is_refused(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.user)
    token = ServerToken.objects.get(server=world.tenant.server)
    url = reverse("web:token_revoke", args=[world.tenant.server.id, token.id])
    assert client.post(url).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None

    # The same request with the token from the page works.
    page = client.get(reverse("web:settings", args=[world.tenant.server.id]))
    csrf = page.context["csrf_token"]
    response = client.post(url, {"csrfmiddlewaretoken": str(csrf)})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_login_form_needs_csrf_too(tenant):
    user = make_user(tenant)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("web:login"), {"username": user.email, "password": PASSWORD}
    )
    assert response.status_code == 403


def test_login_works_and_is_case_insensitive_for_the_email(tenant):
    user = make_user(tenant)
    client = Client()
    response = client.post(
        reverse("web:login"), {"username": user.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/ui/"
    assert client.get("/ui/").status_code == 200


def test_login_is_blocked_after_five_failures_even_with_the_right_password(tenant):
    user = make_user(tenant)
    client = Client()
    url = reverse("web:login")
    for _ in range(5):
        response = client.post(url, {"username": user.email, "password": "wrong"})
        assert response.status_code == 200
        assert b"Please enter a correct" in response.content
    response = client.post(url, {"username": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session

    # Another address from the same client is not affected.
    other = make_user(tenant)
    response = client.post(url, {"username": other.email, "password": PASSWORD})
    assert response.status_code == 302


def test_the_login_block_ends_with_its_window(tenant, settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 1
    settings.LOGIN_FAILURE_LIMIT = 2
    user = make_user(tenant)
    client = Client()
    url = reverse("web:login")
    for _ in range(2):
        client.post(url, {"username": user.email, "password": "wrong"})
    assert (
        client.post(url, {"username": user.email, "password": PASSWORD}).status_code
        == 429
    )
    time.sleep(1.2)
    assert (
        client.post(url, {"username": user.email, "password": PASSWORD}).status_code
        == 302
    )


def test_a_successful_login_resets_the_failure_count(tenant):
    user = make_user(tenant)
    url = reverse("web:login")
    client = Client()
    for _ in range(4):
        client.post(url, {"username": user.email, "password": "wrong"})
    assert (
        client.post(url, {"username": user.email, "password": PASSWORD}).status_code
        == 302
    )
    client = Client()
    for _ in range(4):
        client.post(url, {"username": user.email, "password": "wrong"})
    assert (
        client.post(url, {"username": user.email, "password": PASSWORD}).status_code
        == 302
    )


def test_unknown_users_are_rate_limited_too(db):
    client = Client()
    email = unique_email("ghost")
    for _ in range(5):
        client.post(reverse("web:login"), {"username": email, "password": "x"})
    response = client.post(reverse("web:login"), {"username": email, "password": "x"})
    assert response.status_code == 429


def test_user_content_is_escaped_in_pages(world):
    evil = '<img src=x onerror="alert(1)">'
    message = send(world.tenant, subject=f"Hi {evil}", tag="<script>t</script>")
    s = world.tenant.server.id
    for url in (
        reverse("web:activity", args=[s]),
        reverse("web:message", args=[s, message.message_id]),
    ):
        body = world.client.get(url).content
        assert b'<img src=x onerror="alert(1)">' not in body
        assert b"&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
        assert b"<script>t</script>" not in body


def test_ui_pages_carry_a_strict_content_security_policy(world):
    response = world.client.get(reverse("web:activity", args=[world.tenant.server.id]))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert response["Cache-Control"] == "no-store"


def test_the_html_preview_forbids_scripts_and_remote_content(world):
    html = (
        "<script>parent.document.title='pwned'</script>"
        "<img src='https://tracker.example.net/p.gif' onerror='alert(1)'>"
        '<meta http-equiv="refresh" content="0;url=https://evil.example.net/">'
    )
    message = send(world.tenant, html_body=html)
    url = reverse("web:message_html", args=[world.tenant.server.id, message.message_id])
    response = world.client.get(url)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "img-src data: cid:;" in csp
    assert csp.rstrip().endswith("sandbox")
    assert "script-src" not in csp  # falls back to default-src 'none'
    assert response["Referrer-Policy"] == "no-referrer"
    assert b"http-equiv" not in response.content

    remote = world.client.get(url + "?remote=1")
    assert "img-src data: cid: https: http:;" in remote["Content-Security-Policy"]
    assert "default-src 'none'" in remote["Content-Security-Policy"]

    page = world.client.get(
        reverse("web:message", args=[world.tenant.server.id, message.message_id])
    )
    body = page.content.decode()
    assert '<iframe class="preview"' in body
    assert "sandbox " in body and "allow-scripts" not in body


def test_raw_source_is_plain_text_and_sandboxed(world):
    url = reverse(
        "web:message_raw", args=[world.tenant.server.id, world.message.message_id]
    )
    response = world.client.get(url)
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert b"Subject: Hello" in response.content
    assert "sandbox" in response["Content-Security-Policy"]
    download = world.client.get(url + "?download=1")
    assert download["Content-Type"] == "message/rfc822"
    assert "attachment" in download["Content-Disposition"]


def test_login_never_redirects_off_site(tenant):
    user = make_user(tenant)
    response = Client().post(
        reverse("web:login") + "?next=https://evil.example.net/",
        {
            "username": user.email,
            "password": PASSWORD,
            "next": "https://evil.example.net/",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/ui/"


def test_sign_out_is_a_post_and_ends_the_session(world):
    assert world.client.get(reverse("web:logout")).status_code == 405
    response = world.client.post(reverse("web:logout"))
    assert response.status_code == 302
    assert world.client.get(reverse("web:index")).status_code == 302
