"""A templated send over real sockets: HTTP in, SMTP out to a sink, the message
in the activity API, and its Delivery webhook posted to a real receiver."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
import requests

from messages.delivery import delivery_run
from messages.models import Message
from templating.models import Template
from webhooks.models import WebhookDelivery
from webhooks.services import WebhookInput, webhook_create, webhook_delivery_attempt


@pytest.fixture
def live_tenant(transactional_db):
    from tests.factories import make_tenant

    return make_tenant("acme")


def test_a_template_send_is_delivered_listed_and_reported_by_webhook(
    live_server,
    live_tenant,
    sink,
    pool_to,
    receiver,
    webhook_settings,
):
    pool_to(sink.port)
    webhook_create(
        server=live_tenant.server,
        data=WebhookInput(url=receiver.url, triggers={"Delivery": {"Enabled": True}}),
    )
    Template.objects.create(
        server=live_tenant.server,
        name="Shipped",
        alias="shipped",
        subject="Order {{order.id}} has shipped",
        html_body="<p>Hi {{name}}, {{#each items}}{{title}}; {{/each}}</p>",
        text_body="Hi {{name}}, your order {{order.id}} is on its way.",
    )
    headers = {
        "X-Postmark-Server-Token": live_tenant.server_token,
        "Accept": "application/json",
    }
    with requests.Session() as http:
        sent = http.post(
            f"{live_server.url}/email/withTemplate",
            json={
                "From": live_tenant.sender,
                "To": "carol@example.org",
                "TemplateAlias": "shipped",
                "TemplateModel": {
                    "name": "Carol",
                    "order": {"id": 1042},
                    "items": [{"title": "Tea"}, {"title": "Mug"}],
                },
                "Tag": "shipping",
            },
            headers=headers,
            timeout=10,
        )
        assert sent.status_code == 200, sent.text
        message_id = sent.json()["MessageID"]

        message = Message.objects.get(message_id=message_id)
        report = delivery_run(message_ids=[message.id])
        assert report.delivered == 1

        (received,) = sink.state.received
        assert received.rcpt_tos == ["carol@example.org"]
        mime = BytesParser(policy=policy.default).parsebytes(received.data)
        assert mime["Subject"] == "Order 1042 has shipped"
        assert mime.get_body(("plain",)).get_content().strip() == (
            "Hi Carol, your order 1042 is on its way."
        )
        assert "<p>Hi Carol, Tea; Mug; </p>" in mime.get_body(("html",)).get_content()

        listed = http.get(
            f"{live_server.url}/messages/outbound?count=10&offset=0&tag=shipping",
            headers=headers,
            timeout=10,
        ).json()
        assert [m["MessageID"] for m in listed["Messages"]] == [message_id]
        assert listed["Messages"][0]["Subject"] == "Order 1042 has shipped"
        details = http.get(
            f"{live_server.url}/messages/outbound/{message_id}/details",
            headers=headers,
            timeout=10,
        ).json()
        assert "Tea; Mug;" in details["HtmlBody"]
        assert "Delivered" in [e["Type"] for e in details["MessageEvents"]]

    (hook_row,) = WebhookDelivery.objects.all()
    assert webhook_delivery_attempt(delivery_id=hook_row.id) == "delivered"
    (request,) = receiver.requests
    assert request.json["RecordType"] == "Delivery"
    assert request.json["MessageID"] == message_id
    assert request.json["Recipient"] == "carol@example.org"
    assert request.json["Tag"] == "shipping"
