"""``/templates*``: CRUD, layouts, filters, validate, push; Postmark's codes."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from templating.models import Template

pytestmark = pytest.mark.django_db


def create(api, tenant, **fields):
    body = {
        "Name": "Welcome",
        "Alias": "welcome",
        "Subject": "Hi {{name}}",
        "HtmlBody": "<p>Hello {{name}}</p>",
        "TextBody": "Hello {{name}}",
    }
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not ...}
    return api.send_json("POST", "/templates", body, **tenant.server_headers)


def layout(api, tenant, alias="base", html="<div>{{{ @content }}}</div>"):
    return create(
        api,
        tenant,
        Name="Base layout",
        Alias=alias,
        Subject=...,
        TemplateType="Layout",
        HtmlBody=html,
        TextBody="-- {{{@content}}} --",
    )


def test_it_creates_a_template_and_reads_it_back_by_id_and_alias(api, tenant):
    response = create(api, tenant)
    assert response.status_code == 200, response.content
    created = response.json()
    assert created == {
        "TemplateId": created["TemplateId"],
        "Name": "Welcome",
        "Active": True,
        "Alias": "welcome",
        "TemplateType": "Standard",
        "LayoutTemplate": None,
    }
    for ref in (created["TemplateId"], "welcome"):
        got = api.send_json("GET", f"/templates/{ref}", **tenant.server_headers)
        assert got.status_code == 200
        assert got.json() == {
            "TemplateId": created["TemplateId"],
            "Name": "Welcome",
            "Alias": "welcome",
            "Subject": "Hi {{name}}",
            "HtmlBody": "<p>Hello {{name}}</p>",
            "TextBody": "Hello {{name}}",
            "AssociatedServerId": tenant.server.id,
            "Active": True,
            "TemplateType": "Standard",
            "LayoutTemplate": None,
        }


def test_an_alias_keeps_its_case_in_the_path(api, tenant):
    create(api, tenant, Alias="Password-Reset")
    got = api.send_json("GET", "/templates/Password-Reset", **tenant.server_headers)
    assert got.status_code == 200
    assert got.json()["Alias"] == "Password-Reset"


def test_another_servers_template_is_not_found(api, tenant, other_tenant):
    template_id = create(api, tenant).json()["TemplateId"]
    for method in ("GET", "PUT", "DELETE"):
        response = api.send_json(
            method,
            f"/templates/{template_id}",
            {"Name": "x"},
            **other_tenant.server_headers,
        )
        assert response.status_code == 422
        assert response.json()["ErrorCode"] == 1101
    listed = api.send_json(
        "GET", "/templates?Count=10&Offset=0", **other_tenant.server_headers
    )
    assert listed.json() == {"TotalCount": 0, "Templates": []}
    assert Template.objects.get(pk=template_id).name == "Welcome"


def test_it_lists_with_paging_and_filters(api, tenant, django_assert_num_queries):
    layout(api, tenant)
    create(api, tenant, Alias="a", LayoutTemplate="base")
    create(api, tenant, Alias="b", Name="Other")
    # Token, page (with each layout's alias joined in), total count.
    with django_assert_num_queries(3):
        page = api.send_json(
            "GET", "/templates?count=2&offset=0", **tenant.server_headers
        ).json()
    assert page["TotalCount"] == 3
    assert [t["Alias"] for t in page["Templates"]] == ["base", "a"]
    assert page["Templates"][1] == {
        "Active": True,
        "TemplateId": page["Templates"][1]["TemplateId"],
        "Name": "Welcome",
        "Alias": "a",
        "TemplateType": "Standard",
        "LayoutTemplate": "base",
    }
    layouts = api.send_json(
        "GET",
        "/templates?Count=50&Offset=0&TemplateType=Layout",
        **tenant.server_headers,
    ).json()
    assert [t["Alias"] for t in layouts["Templates"]] == ["base"]
    using = api.send_json(
        "GET",
        "/templates?Count=50&Offset=0&LayoutTemplate=base",
        **tenant.server_headers,
    ).json()
    assert [t["Alias"] for t in using["Templates"]] == ["a"]


@pytest.mark.parametrize(
    "query",
    [
        "Count=0&Offset=0",
        "Count=501&Offset=0",
        "Count=10&Offset=-1",
        "Count=10&Offset=0&TemplateType=Fancy",
    ],
)
def test_a_bad_list_query_is_1100(api, tenant, query):
    response = api.send_json("GET", f"/templates?{query}", **tenant.server_headers)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1100


def test_edit_changes_only_given_fields_and_clears_the_layout(api, tenant):
    layout(api, tenant)
    template_id = create(api, tenant, LayoutTemplate="base").json()["TemplateId"]
    # postmarker sends null for untouched fields.
    response = api.send_json(
        "PUT",
        f"/templates/{template_id}",
        {"Name": "Renamed", "Subject": None, "HtmlBody": None, "LayoutTemplate": ""},
        **tenant.server_headers,
    )
    assert response.status_code == 200, response.content
    assert response.json()["LayoutTemplate"] is None
    got = api.send_json(
        "GET", f"/templates/{template_id}", **tenant.server_headers
    ).json()
    assert got["Name"] == "Renamed"
    assert got["Subject"] == "Hi {{name}}"


def test_template_type_cannot_change(api, tenant):
    template_id = create(api, tenant).json()["TemplateId"]
    response = api.send_json(
        "PUT",
        f"/templates/{template_id}",
        {"TemplateType": "Layout"},
        **tenant.server_headers,
    )
    assert response.json()["ErrorCode"] == 1123


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Name": ""}, 1120),
        ({"Subject": ""}, 1120),
        ({"HtmlBody": "", "TextBody": ""}, 1120),
        ({"Alias": "9lives"}, 1122),
        ({"Alias": "has space"}, 1122),
        ({"TemplateType": "Fancy"}, 1122),
        ({"HtmlBody": "{{#open}} never closed"}, 1122),
        ({"LayoutTemplate": "missing"}, 1101),
    ],
)
def test_invalid_templates_are_refused_with_postmarks_codes(api, tenant, fields, code):
    response = create(api, tenant, **fields)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == code
    assert Template.objects.count() == 0


def test_a_duplicate_alias_is_refused(api, tenant):
    create(api, tenant)
    response = create(api, tenant)
    assert response.json()["ErrorCode"] == 1122
    assert Template.objects.count() == 1


def test_a_layout_needs_exactly_one_content_placeholder(api, tenant):
    assert (
        layout(api, tenant, html="<div>no placeholder</div>").json()["ErrorCode"]
        == 1131
    )
    twice = "{{{@content}}}{{{ @content }}}"
    assert layout(api, tenant, html=twice).json()["ErrorCode"] == 1131
    with_subject = create(api, tenant, TemplateType="Layout", HtmlBody="{{{@content}}}")
    assert with_subject.json()["ErrorCode"] == 1123


def test_a_layout_in_use_cannot_be_deleted(api, tenant):
    layout(api, tenant)
    template_id = create(api, tenant, LayoutTemplate="base").json()["TemplateId"]
    refused = api.send_json("DELETE", "/templates/base", **tenant.server_headers)
    assert refused.json()["ErrorCode"] == 1130
    deleted = api.send_json(
        "DELETE", f"/templates/{template_id}", **tenant.server_headers
    )
    assert deleted.json() == {
        "ErrorCode": 0,
        "Message": f"Template {template_id} removed.",
    }
    assert (
        api.send_json("DELETE", "/templates/base", **tenant.server_headers).status_code
        == 200
    )
    assert Template.objects.count() == 0


def test_the_template_limit_is_1105(api, tenant, settings):
    from templating import services

    for n in range(services.MAX_TEMPLATES_PER_SERVER):
        Template.objects.create(server=tenant.server, name=f"t{n}", text_body="x")
    response = create(api, tenant)
    assert response.json()["ErrorCode"] == 1105


def test_validate_reports_each_part_and_suggests_a_model(api, tenant):
    response = api.send_json(
        "POST",
        "/templates/validate",
        {
            "Subject": "Order {{order.id}}",
            "HtmlBody": "<style>p{color:red}</style><p>{{#each items}}{{name}}{{/each}}</p>",
            "TextBody": "{{#broken}}",
            "TestRenderModel": {"order": {"id": 7}, "items": [{"name": "Tea"}]},
        },
        **tenant.server_headers,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["AllContentIsValid"] is False
    assert body["Subject"] == {
        "ContentIsValid": True,
        "ValidationErrors": [],
        "RenderedContent": "Order 7",
    }
    assert body["HtmlBody"]["ContentIsValid"] is True
    assert '<p style="color: red;">Tea</p>' in body["HtmlBody"]["RenderedContent"]
    assert body["TextBody"]["ContentIsValid"] is False
    assert body["TextBody"]["RenderedContent"] is None
    error = body["TextBody"]["ValidationErrors"][0]
    assert (error["Line"], error["CharacterPosition"]) == (1, 1)
    assert "never closed" in error["Message"]
    assert body["SuggestedTemplateModel"] == {
        "order": {"id": "id_Value"},
        "items": [{"name": "name_Value"}],
    }  # the unparseable part contributes nothing


def test_validate_leaves_out_parts_not_sent_and_renders_inside_a_layout(api, tenant):
    layout(api, tenant)
    body = api.send_json(
        "POST",
        "/templates/validate",
        {
            "HtmlBody": "<b>{{x}}</b>",
            "LayoutTemplate": "base",
            "TestRenderModel": {"x": "1"},
            "InlineCssForHtmlTestRender": False,
        },
        **tenant.server_headers,
    ).json()
    assert body["Subject"] is None and body["TextBody"] is None
    assert body["AllContentIsValid"] is True
    assert body["HtmlBody"]["RenderedContent"] == "<div><b>1</b></div>"


def test_push_copies_aliased_templates_to_another_server(api, tenant):
    layout(api, tenant)
    create(api, tenant, LayoutTemplate="base")
    Template.objects.create(server=tenant.server, name="no alias", text_body="x")
    dest = account_services.server_create(account=tenant.account, name="staging").obj
    body = {
        "SourceServerID": tenant.server.id,
        "DestinationServerID": dest.id,
        "PerformChanges": False,
    }
    dry = api.send_json("PUT", "/templates/push", body, **tenant.account_headers).json()
    assert dry["TotalCount"] == 2
    assert [t["Action"] for t in dry["Templates"]] == ["Create", "Create"]
    assert not Template.objects.filter(server=dest).exists()
    body["PerformChanges"] = True
    api.send_json("PUT", "/templates/push", body, **tenant.account_headers)
    copied = Template.objects.get(server=dest, alias="welcome")
    assert copied.layout.alias == "base" and copied.layout.server == dest
    again = api.send_json(
        "PUT", "/templates/push", body, **tenant.account_headers
    ).json()
    assert [t["Action"] for t in again["Templates"]] == ["Edit", "Edit"]


def test_push_to_another_accounts_server_is_601(api, tenant, other_tenant):
    create(api, tenant)
    response = api.send_json(
        "PUT",
        "/templates/push",
        {
            "SourceServerID": tenant.server.id,
            "DestinationServerID": other_tenant.server.id,
            "PerformChanges": True,
        },
        **tenant.account_headers,
    )
    assert response.json()["ErrorCode"] == 601
    assert not Template.objects.filter(server=other_tenant.server).exists()
