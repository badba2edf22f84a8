"""The official Postmark Node.js client's template methods, unmodified, against
our live server."""

from __future__ import annotations

import pytest

from messages.models import Message
from templating.models import Template

from .conftest import NodeClientError


def test_node_client_manages_templates_and_layouts(node_client, live_tenant):
    client = node_client(live_tenant.server_token)
    layout = client.call(
        "createTemplate",
        {
            "Name": "Base",
            "Alias": "base",
            "TemplateType": "Layout",
            "HtmlBody": "<main>{{{ @content }}}</main>",
        },
    )
    assert layout["TemplateType"] == "Layout"
    created = client.call(
        "createTemplate",
        {
            "Name": "Invoice",
            "Alias": "invoice",
            "Subject": "Invoice {{id}}",
            "HtmlBody": "<p>{{#each lines}}{{sku}} {{/each}}</p>",
            "LayoutTemplate": "base",
        },
    )
    assert created["LayoutTemplate"] == "base"

    listed = client.call("getTemplates", {"count": 10, "offset": 0})
    assert listed["TotalCount"] == 2
    only_layouts = client.call(
        "getTemplates", {"count": 10, "offset": 0, "templateType": "Layout"}
    )
    assert [t["Alias"] for t in only_layouts["Templates"]] == ["base"]

    fetched = client.call("getTemplate", "invoice")
    assert fetched["TemplateId"] == created["TemplateId"]
    assert fetched["Subject"] == "Invoice {{id}}"

    edited = client.call("editTemplate", "invoice", {"Subject": "Invoice #{{id}}"})
    assert edited["TemplateId"] == created["TemplateId"]
    assert client.call("getTemplate", created["TemplateId"])["Subject"] == (
        "Invoice #{{id}}"
    )

    validation = client.call(
        "validateTemplate",
        {
            "HtmlBody": "<p>{{#each lines}}{{sku}} {{/each}}</p>",
            "LayoutTemplate": "base",
            "TestRenderModel": {"lines": [{"sku": "A1"}, {"sku": "B2"}]},
        },
    )
    assert validation["AllContentIsValid"] is True
    assert validation["HtmlBody"]["RenderedContent"] == "<main><p>A1 B2 </p></main>"
    assert validation["SuggestedTemplateModel"] == {"lines": [{"sku": "sku_Value"}]}

    with pytest.raises(NodeClientError) as caught:
        client.call("deleteTemplate", "base")
    assert caught.value.code == 1130
    removed = client.call("deleteTemplate", "invoice")
    assert removed["Message"] == f"Template {created['TemplateId']} removed."


def test_node_client_sends_with_templates(node_client, live_tenant):
    Template.objects.create(
        server=live_tenant.server,
        name="Ping",
        alias="ping",
        subject="Ping {{n}}",
        text_body="n={{n}}",
    )
    client = node_client(live_tenant.server_token)
    sent = client.call(
        "sendEmailWithTemplate",
        {
            "From": live_tenant.sender,
            "To": "one@example.org",
            "TemplateAlias": "ping",
            "TemplateModel": {"n": 1},
        },
    )
    assert sent["ErrorCode"] == 0
    assert Message.objects.get(message_id=sent["MessageID"]).subject == "Ping 1"

    batch = client.call(
        "sendEmailBatchWithTemplates",
        [
            {
                "From": live_tenant.sender,
                "To": f"n{n}@example.org",
                "TemplateAlias": "ping",
                "TemplateModel": {"n": n},
            }
            for n in (2, 3)
        ],
    )
    assert [r["ErrorCode"] for r in batch] == [0, 0]
    subjects = {Message.objects.get(message_id=r["MessageID"]).subject for r in batch}
    assert subjects == {"Ping 2", "Ping 3"}


def test_node_client_gets_1101_for_another_servers_template(
    node_client, live_tenant, live_other_tenant
):
    theirs = Template.objects.create(
        server=live_other_tenant.server, name="Theirs", subject="s", text_body="t"
    )
    client = node_client(live_tenant.server_token)
    with pytest.raises(NodeClientError) as caught:
        client.call("getTemplate", theirs.pk)
    assert caught.value.code == 1101
    assert caught.value.status_code == 422
    with pytest.raises(NodeClientError) as caught:
        client.call(
            "sendEmailWithTemplate",
            {
                "From": live_tenant.sender,
                "To": "x@example.org",
                "TemplateId": theirs.pk,
                "TemplateModel": {},
            },
        )
    assert caught.value.code == 1101
