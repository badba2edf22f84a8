"""Unmodified postmarker's templates API and templated sends against our live
server."""

from __future__ import annotations

import pytest
from postmarker.core import PostmarkClient
from postmarker.exceptions import ClientError

from messages.models import Message
from templating.models import Template


@pytest.fixture
def make_client(live_server):
    made: list[PostmarkClient] = []

    def build(token: str) -> PostmarkClient:
        made.append(PostmarkClient(server_token=token, root_api_url=live_server.url))
        return made[-1]

    yield build
    for client in made:
        client.session.close()


@pytest.fixture
def client(make_client, live_tenant) -> PostmarkClient:
    return make_client(live_tenant.server_token)


def test_postmarker_manages_templates(client, live_tenant):
    created = client.templates.create(
        Name="Receipt",
        Subject="Receipt {{number}}",
        HtmlBody="<p>Total {{total}}</p>",
        TextBody="Total {{total}}",
        Alias="receipt",
    )
    assert created.TemplateId and created.Alias == "receipt"

    fetched = client.templates.get(created.TemplateId)
    assert fetched.Subject == "Receipt {{number}}"
    assert fetched.AssociatedServerId == live_tenant.server.id

    client.templates.create(Name="Second", Subject="s", TextBody="t")
    listed = client.templates.all()
    assert [t.Name for t in listed] == ["Receipt", "Second"]

    fetched.edit(Name="Receipt v2")  # postmarker sends null for the other fields
    edited = client.templates.get(created.TemplateId)
    assert edited.Name == "Receipt v2"
    assert edited.Subject == "Receipt {{number}}"

    answer = client.templates.validate(
        Subject="Hi {{name}}",
        HtmlBody="<b>{{name}}</b>",
        TestRenderModel={"name": "Zoë"},
    )
    assert answer["AllContentIsValid"] is True
    assert answer["Subject"]["RenderedContent"] == "Hi Zoë"
    assert answer["TextBody"] is None
    assert answer["SuggestedTemplateModel"] == {"name": "name_Value"}

    assert fetched.delete() == f"Template {created.TemplateId} removed."
    assert [t.Name for t in client.templates.all()] == ["Second"]


def test_postmarker_sends_with_a_template_and_in_a_batch(client, live_tenant):
    template = client.templates.create(
        Name="Hello", Subject="Hello {{name}}", TextBody="Dear {{name}}", Alias="hello"
    )
    sent = client.emails.send_with_template(
        TemplateId=template.TemplateId,
        TemplateModel={"name": "Ann"},
        From=live_tenant.sender,
        To="ann@example.org",
    )
    assert sent["ErrorCode"] == 0
    assert Message.objects.get(message_id=sent["MessageID"]).subject == "Hello Ann"

    results = client.emails.send_template_batch(
        {
            "TemplateAlias": "hello",
            "TemplateModel": {"name": "Bo"},
            "From": live_tenant.sender,
            "To": "bo@example.org",
        },
        {
            "TemplateAlias": "missing",
            "TemplateModel": {},
            "From": live_tenant.sender,
            "To": "cy@example.org",
        },
    )
    assert [r["ErrorCode"] for r in results] == [0, 1101]
    assert Message.objects.get(message_id=results[0]["MessageID"]).subject == (
        "Hello Bo"
    )


def test_postmarker_sees_postmarks_errors(client, live_tenant):
    with pytest.raises(ClientError) as caught:
        client.templates.get(123456)
    assert caught.value.error_code == 1101
    with pytest.raises(ClientError) as caught:
        client.emails.send_with_template(
            TemplateAlias="nope",
            TemplateModel={},
            From=live_tenant.sender,
            To="x@example.org",
        )
    assert caught.value.error_code == 1101


def test_postmarker_cannot_reach_another_servers_template(
    make_client, live_tenant, live_other_tenant
):
    theirs = Template.objects.create(
        server=live_other_tenant.server, name="Theirs", subject="s", text_body="t"
    )
    client = make_client(live_tenant.server_token)
    with pytest.raises(ClientError) as caught:
        client.templates.get(theirs.pk)
    assert caught.value.error_code == 1101
    assert client.templates.all() == []
