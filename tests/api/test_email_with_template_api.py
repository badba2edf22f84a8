"""``POST /email/withTemplate`` and ``/email/batchWithTemplates``: rendered, then
accepted by the same path as plain sends."""

from __future__ import annotations

import pytest

from bounces.models import Bounce, Suppression
from messages.archive import archive_get
from messages.models import Message, Recipient
from templating.models import Template

pytestmark = pytest.mark.django_db


@pytest.fixture
def welcome(tenant) -> Template:
    layout = Template.objects.create(
        server=tenant.server,
        name="Base",
        alias="base",
        template_type="Layout",
        html_body="<html><head><style>.hi{color:red}</style></head>"
        "<body>{{{ @content }}}<footer>{{company}}</footer></body></html>",
        text_body="{{{@content}}}\n-- {{company}}",
    )
    return Template.objects.create(
        server=tenant.server,
        name="Welcome",
        alias="welcome",
        subject="Welcome, {{user.name}}",
        html_body='<p class="hi">Hi {{user.name}}</p>'
        "<ul>{{#each items}}<li>{{.}}</li>{{/each}}</ul>",
        text_body="Hi {{user.name}}",
        layout=layout,
    )


def payload(tenant, **overrides):
    body = {
        "From": tenant.sender,
        "To": "alice@example.org",
        "TemplateAlias": "welcome",
        "TemplateModel": {
            "user": {"name": "Alice & Bob"},
            "items": ["tea", "cake"],
            "company": "ACME",
        },
        "Tag": "onboarding",
        "Metadata": {"plan": "pro"},
    }
    body.update(overrides)
    return body


def send(api, tenant, body, path="/email/withTemplate"):
    return api.send_json("POST", path, body, **tenant.server_headers)


def test_it_renders_the_template_in_its_layout_and_stores_the_message(
    api, tenant, welcome
):
    response = send(api, tenant, payload(tenant))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ErrorCode"] == 0 and body["Message"] == "OK"
    assert body["To"] == "alice@example.org"
    message = Message.objects.get(message_id=body["MessageID"])
    assert message.subject == "Welcome, Alice &amp; Bob"
    assert message.tag == "onboarding" and message.metadata == {"plan": "pro"}
    raw = archive_get(key=message.archive_key).decode()
    # CSS from the layout's <style> is inlined; the layout wraps the content.
    assert '<p class="hi" style="color: red;">Hi Alice &amp; Bob</p>' in raw
    assert "<li>tea</li><li>cake</li>" in raw
    assert "<footer>ACME</footer>" in raw
    assert "Hi Alice &amp; Bob\r\n-- ACME" in raw
    assert Recipient.objects.filter(message=message).count() == 1


def test_template_id_works_and_wins_over_the_alias(api, tenant, welcome):
    body = payload(tenant, TemplateId=welcome.pk, TemplateAlias="nonexistent")
    response = send(api, tenant, body, path="/email/withTemplate/")
    assert response.status_code == 200, response.content


def test_inline_css_false_keeps_the_style_block_only(api, tenant, welcome):
    response = send(api, tenant, payload(tenant, InlineCss=False))
    message = Message.objects.get(message_id=response.json()["MessageID"])
    raw = archive_get(key=message.archive_key).decode()
    assert '<p class="hi">Hi' in raw and "style=" not in raw


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"TemplateAlias": "missing"}, 1101),
        ({"TemplateAlias": None}, 1101),
        ({"TemplateAlias": None, "TemplateId": 999999}, 1101),
        ({"TemplateModel": None}, 1120),
        ({"TemplateModel": "text"}, 1122),
        ({"Subject": "Mine"}, 1123),
        ({"HtmlBody": "<p>mine</p>"}, 1123),
        ({"TemplateAlias": "base"}, 1123),
        ({"From": ""}, 300),
    ],
)
def test_errors_use_postmarks_codes_and_store_nothing(
    api, tenant, welcome, overrides, code
):
    response = send(api, tenant, payload(tenant, **overrides))
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == code
    assert Message.objects.count() == 0


def test_another_servers_template_is_1101(api, tenant, other_tenant, welcome):
    body = payload(other_tenant, TemplateId=welcome.pk)
    response = send(api, other_tenant, body)
    assert response.status_code == 422
    assert response.json() == {
        "ErrorCode": 1101,
        "Message": "The 'TemplateId' associated with this request is not valid "
        "or was not found.",
    }


def test_a_model_that_does_not_fit_is_a_template_rendering_failed_bounce(
    api, tenant, welcome
):
    model = {"user": {"name": "A"}, "items": "not an array"}
    response = send(api, tenant, payload(tenant, TemplateModel=model))
    assert response.status_code == 200
    message = Message.objects.get(message_id=response.json()["MessageID"])
    bounce = Bounce.objects.get(message=message)
    assert bounce.type == "TemplateRenderingFailed"
    assert message.recipients.get().status == Recipient.Status.TEST
    assert not Suppression.objects.exists()  # not the recipient's fault


def test_the_batch_answers_per_message_in_order(api, tenant, welcome):
    messages = [
        payload(tenant, To="one@example.org"),
        payload(tenant, TemplateAlias="missing"),
        {"no": "template"},
        payload(tenant, To="two@example.org", TemplateId=welcome.pk),
    ]
    response = send(api, tenant, {"Messages": messages}, "/email/batchWithTemplates")
    assert response.status_code == 200, response.content
    results = response.json()
    assert [r["ErrorCode"] for r in results] == [0, 1101, 1101, 0]
    assert results[0]["To"] == "one@example.org"
    subjects = set(Message.objects.values_list("subject", flat=True))
    assert subjects == {"Welcome, Alice &amp; Bob"}
    assert Message.objects.count() == 2


def test_the_batch_needs_a_messages_array_of_at_most_500(api, tenant, welcome):
    bare = send(api, tenant, [payload(tenant)], "/email/batchWithTemplates")
    assert bare.json()["ErrorCode"] == 402
    big = send(
        api, tenant, {"Messages": [payload(tenant)] * 501}, "/email/batchWithTemplates"
    )
    assert big.json()["ErrorCode"] == 410


def test_the_test_token_validates_and_stores_nothing(api, tenant, welcome):
    response = api.send_json(
        "POST",
        "/email/withTemplate",
        payload(tenant),
        HTTP_X_POSTMARK_SERVER_TOKEN="POSTMARK_API_TEST",
    )
    assert response.status_code == 200
    assert response.json()["Message"] == "Test job accepted"
    assert Message.objects.count() == 0


def test_an_edit_is_used_by_the_next_send(api, tenant, welcome, settings):
    from postmark_clone.lookup_cache import clear_all

    settings.LOOKUP_CACHE_SECONDS = 60
    clear_all()
    first = send(api, tenant, payload(tenant)).json()
    api.send_json(
        "PUT",
        "/templates/welcome",
        {"Subject": "Changed {{user.name}}"},
        **tenant.server_headers,
    )
    second = send(api, tenant, payload(tenant)).json()
    subjects = [
        Message.objects.get(message_id=m["MessageID"]).subject for m in (first, second)
    ]
    assert subjects == ["Welcome, Alice &amp; Bob", "Changed Alice &amp; Bob"]
    clear_all()


def test_a_cached_template_send_costs_no_extra_query(
    api, tenant, welcome, settings, django_assert_num_queries
):
    from postmark_clone.lookup_cache import clear_all

    settings.LOOKUP_CACHE_SECONDS = 60
    clear_all()
    send(api, tenant, payload(tenant))
    plain = {
        "From": tenant.sender,
        "To": "a@example.org",
        "Subject": "s",
        "TextBody": "t",
    }
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as plain_queries:
        api.send_json("POST", "/email", plain, **tenant.server_headers)
    with CaptureQueriesContext(connection) as template_queries:
        send(api, tenant, payload(tenant))
    assert len(template_queries.captured_queries) == len(plain_queries.captured_queries)
    clear_all()


def test_an_edit_saved_outside_the_services_is_used_too(api, tenant, welcome, settings):
    # The Django admin saves rows directly (no version bump): the save signal
    # and the source-keyed compile cache still make the next send use it.
    from postmark_clone.lookup_cache import clear_all

    settings.LOOKUP_CACHE_SECONDS = 60
    clear_all()
    send(api, tenant, payload(tenant))
    welcome.subject = "Admin edit {{user.name}}"
    welcome.save()
    second = send(api, tenant, payload(tenant)).json()
    subject = Message.objects.get(message_id=second["MessageID"]).subject
    assert subject == "Admin edit Alice &amp; Bob"
    clear_all()
