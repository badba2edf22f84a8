"""The Templates pages: list, detail with preview, create/edit, and tenancy."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership
from templating.models import Template

from .conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(tenant):
    client = Client()
    client.force_login(make_user(tenant))
    return client


@pytest.fixture
def welcome(tenant):
    layout = Template.objects.create(
        server=tenant.server,
        name="Base",
        alias="base",
        template_type="Layout",
        html_body="<main>{{{@content}}}</main>",
    )
    return Template.objects.create(
        server=tenant.server,
        name="Welcome",
        alias="welcome",
        subject="Hi {{name}}",
        html_body="<p>Hello {{name}}</p>",
        text_body="Hello {{name}}",
        layout=layout,
        test_render_model={"name": "Tess"},
    )


def url(name, tenant, *args):
    return reverse(f"web:{name}", args=[tenant.server.id, *args])


def test_the_list_shows_the_servers_templates(admin, tenant, welcome):
    page = admin.get(url("templates", tenant)).content.decode()
    assert "Welcome" in page and "Base" in page and "welcome" in page


def test_the_detail_page_renders_the_test_model_inside_the_layout(
    admin, tenant, welcome
):
    page = admin.get(url("template_detail", tenant, welcome.pk)).content.decode()
    assert "Hi Tess" in page
    assert "Hello Tess" in page  # text preview
    preview = admin.get(url("template_preview_html", tenant, welcome.pk))
    assert preview.content.decode() == "<main><p>Hello Tess</p></main>"
    assert "sandbox" in preview["Content-Security-Policy"]


def test_a_model_that_does_not_fit_shows_why(admin, tenant, welcome):
    welcome.html_body = "{{#each name}}x{{/each}}"
    welcome.save()
    page = admin.get(url("template_detail", tenant, welcome.pk)).content.decode()
    assert "used like an array" in page


def test_creating_a_template_with_the_form(tenant):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user(tenant))
    form_page = client.get(url("template_create", tenant))
    token = form_page.cookies["csrftoken"].value
    data = {
        "csrfmiddlewaretoken": token,
        "name": "Reset",
        "alias": "reset",
        "template_type": "Standard",
        "layout": "",
        "subject": "Reset for {{user}}",
        "html_body": "",
        "text_body": "Click {{{link}}}",
        "test_render_model": '{"user": "u", "link": "https://x.example/r"}',
    }
    response = client.post(url("template_create", tenant), data)
    assert response.status_code == 302
    created = Template.objects.get(server=tenant.server, alias="reset")
    assert created.test_render_model == {"user": "u", "link": "https://x.example/r"}
    assert response["Location"] == url("template_detail", tenant, created.pk)
    without_token = Client(enforce_csrf_checks=True)
    without_token.force_login(make_user(tenant))
    assert without_token.post(url("template_create", tenant), data).status_code == 403


def test_the_form_shows_postmarks_checks_next_to_the_field(admin, tenant, welcome):
    response = admin.post(
        url("template_edit", tenant, welcome.pk),
        {
            "name": "Welcome",
            "alias": "welcome",
            "layout": "base",
            "subject": "Hi {{#name}}",
            "html_body": "<p>x</p>",
            "text_body": "",
            "test_render_model": "{}",
        },
    )
    assert response.status_code == 400
    assert "could not be parsed" in response.content.decode()
    welcome.refresh_from_db()
    assert welcome.subject == "Hi {{name}}"
    bad_json = admin.post(
        url("template_edit", tenant, welcome.pk),
        {"name": "Welcome", "subject": "s", "text_body": "t", "test_render_model": "{"},
    )
    assert "not valid JSON" in bad_json.content.decode()


def test_editing_saves_and_bumps_the_version(admin, tenant, welcome):
    response = admin.post(
        url("template_edit", tenant, welcome.pk),
        {
            "name": "Welcome 2",
            "alias": "welcome",
            "layout": "",
            "subject": "Hey {{name}}",
            "html_body": "<p>{{name}}</p>",
            "text_body": "",
            "test_render_model": '{"name": "Ned"}',
        },
    )
    assert response.status_code == 302
    welcome.refresh_from_db()
    assert (welcome.name, welcome.layout, welcome.version) == ("Welcome 2", None, 2)
    assert welcome.text_body == ""


def test_a_member_can_look_but_only_admins_edit(tenant, welcome):
    client = Client()
    client.force_login(make_user(tenant, role=Membership.Role.MEMBER))
    assert client.get(url("template_detail", tenant, welcome.pk)).status_code == 200
    assert client.get(url("template_edit", tenant, welcome.pk)).status_code == 403
    assert client.get(url("template_create", tenant)).status_code == 403


def test_another_tenants_templates_are_404(tenant, other_tenant, welcome):
    client = Client()
    client.force_login(make_user(other_tenant))
    # Their own server, our template id: not found.
    for name in ("template_detail", "template_edit", "template_preview_html"):
        response = client.get(url(name, other_tenant, welcome.pk))
        assert response.status_code == 404
    # Our server: not theirs at all.
    assert client.get(url("templates", tenant)).status_code == 404
