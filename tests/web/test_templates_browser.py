"""Templates in a real browser: create a layout and a template with the forms,
see the rendered preview, edit it, and send with it through the API."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Page, expect

from messages.models import Message
from tests.factories import make_tenant

from .conftest import make_user
from .test_browser import browser, page, shot, sign_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_preview_edit_and_send_a_template(
    page: Page,  # noqa: F811
    live_server,
):
    tenant = make_tenant("acme")
    user = make_user(tenant)
    sign_in(page, live_server, user.email)
    page.get_by_role("link", name="acme server").click()
    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_text("No templates yet.")).to_be_visible()

    page.get_by_role("link", name="New template").click()
    page.get_by_label("Name").fill("Base layout")
    page.get_by_label("Alias").fill("base")
    page.get_by_label("Type").select_option("Layout")
    page.get_by_label("HTML body").fill(
        "<style>.lead{color:#0a7}</style><main>{{{ @content }}}</main>"
    )
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_text("Template “Base layout” created.")).to_be_visible()

    page.get_by_role("link", name="Templates", exact=True).first.click()
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Name").fill("Welcome")
    page.get_by_label("Alias").fill("welcome")
    page.get_by_label("Layout").select_option("base")
    page.get_by_label("Subject").fill("Welcome {{ user.name }}")
    page.get_by_label("HTML body").fill(
        '<p class="lead">Hi {{ user.name }}</p>'
        "<ul>{{#each perks}}<li>{{.}}</li>{{/each}}</ul>"
    )
    page.get_by_label("Test model (JSON)").fill(
        '{"user": {"name": "Tess"}, "perks": ["Fast", "Cheap"]}'
    )
    page.get_by_role("button", name="Create template").click()

    expect(page.locator("#preview-subject")).to_have_text("Welcome Tess")
    frame = page.frame_locator("iframe.preview")
    expect(frame.locator("p.lead")).to_have_text("Hi Tess")
    expect(frame.locator("li")).to_have_text(["Fast", "Cheap"])
    # The layout's CSS is inlined like in a real send.
    expect(frame.locator("p.lead")).to_have_attribute("style", "color: #0a7;")
    shot(page, "template-detail")

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Subject").fill("Welcome aboard, {{#user}}")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("could not be parsed")).to_be_visible()
    page.get_by_label("Subject").fill("Welcome aboard, {{ user.name }}")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#preview-subject")).to_have_text("Welcome aboard, Tess")

    sent = requests.post(
        f"{live_server.url}/email/withTemplate",
        json={
            "From": tenant.sender,
            "To": "new@example.org",
            "TemplateAlias": "welcome",
            "TemplateModel": {"user": {"name": "Nia"}, "perks": []},
        },
        headers={"X-Postmark-Server-Token": tenant.server_token},
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    message = Message.objects.get(message_id=sent.json()["MessageID"])
    assert message.subject == "Welcome aboard, Nia"
