"""XSS payloads in every tenant field never execute in a real browser (headless
Chromium): no ``window.__xss``, no dialog, and no inline script even reaching
the DOM (Chromium reports any that the CSP had to block)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import ServerToken

from .test_bad_input_pages import object_pages, poison, url_of
from .test_browser import browser, page, sign_in  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_script_payloads_never_run_on_any_page(world, settings, live_server, page):  # noqa: F811
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    w = world
    seeded = poison(w, settings)
    token = ServerToken.objects.filter(server=w.tenant.server).first()
    ids = {
        "server_id": w.tenant.server.id,
        "account_id": w.tenant.account.id,
        "message_id": seeded["message"].message_id,
        "bounce_id": seeded["bounce"].id,
        "token_id": token.id,
        "domain_id": w.tenant.domain.id,
        "template_id": seeded["template"].id,
        "inbound:message_id": seeded["inbound"].message_id,
        "action": "retry",
    }
    blocked: list[str] = []
    dialogs: list[str] = []
    page.on(
        "console",
        lambda msg: (
            blocked.append(msg.text)
            if "Content Security Policy" in msg.text or "__xss" in msg.text
            else None
        ),
    )
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server, w.user.email)
    visited = 0
    for pattern in object_pages():
        if pattern.name in {"suppression_csv"}:
            continue  # a download
        url = url_of(pattern, ids)
        if w.client.get(url).status_code == 405:
            continue  # a POST-only action renders no page
        response = page.goto(live_server.url + url)
        assert response.status == 200, url
        page.wait_for_load_state("load")
        assert page.evaluate("() => window.__xss") is None, url
        for frame in page.frames:
            assert frame.evaluate("() => window.__xss === undefined") in (True, None)
        visited += 1
    page.goto(live_server.url + reverse("web:index"))
    assert page.evaluate("() => window.__xss") is None
    assert visited >= 8
    assert dialogs == []
    assert blocked == [], blocked
