"""django-anymail's Postmark tracking webhook accepts what we send.

A live Django server runs anymail's ``PostmarkTrackingWebhookView``; our real
sender POSTs to it with Basic auth from the URL userinfo, exactly as a tenant
would configure ``https://user:pass@site/anymail/postmark/tracking/``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from anymail.signals import tracking
from django.db import transaction

from webhooks.models import WebhookDelivery
from webhooks.payloads import payload_bounce, payload_delivery, payload_spam_complaint
from webhooks.services import (
    WebhookInput,
    webhook_create,
    webhook_delivery_attempt,
    webhook_emit,
)

from .builders import bounce_for, sent_message

pytestmark = pytest.mark.urls("tests.webhooks.anymail_urls")

WHEN = datetime(2026, 11, 23, 9, 30, 1, tzinfo=UTC)
SECRET = "anymail-user:anymail-pass"


@pytest.fixture
def events(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    received = []

    def handler(sender, event, esp_name, **kwargs):
        received.append((esp_name, event))

    tracking.connect(handler, weak=False)
    yield received
    tracking.disconnect(handler)


def deliver(tenant, live_server, payload, trigger):
    url = live_server.url.replace("http://", f"http://{SECRET}@")
    webhook_create(
        server=tenant.server,
        data=WebhookInput(
            url=f"{url}/anymail/postmark/tracking/",
            triggers={trigger: {"Enabled": True}},
        ),
    )
    with transaction.atomic():
        webhook_emit(
            server=tenant.server,
            message_stream="outbound",
            record_type=payload["RecordType"],
            payload=payload,
        )
    row = WebhookDelivery.objects.get()
    assert webhook_delivery_attempt(delivery_id=row.id) == "delivered"


def test_anymail_reads_our_delivery_event(
    transactional_db, tenant, live_server, events
):
    message = sent_message(tenant)
    payload = payload_delivery(message, "john@example.com", "250 2.0.0 OK", WHEN)
    deliver(tenant, live_server, payload, "Delivery")
    ((esp, event),) = events
    assert esp == "Postmark"
    assert event.event_type == "delivered"
    assert event.recipient == "john@example.com"
    assert event.message_id == str(message.message_id)
    assert event.timestamp == WHEN
    assert event.tags == ["receipts"]
    assert event.metadata == {"order": "42"}
    assert event.mta_response == "250 2.0.0 OK"


def test_anymail_reads_our_bounce_event(transactional_db, tenant, live_server, events):
    message = sent_message(tenant)
    bounce = bounce_for(message, "HardBounce", WHEN, inactive=True)
    deliver(tenant, live_server, payload_bounce(bounce), "Bounce")
    ((_, event),) = events
    assert event.event_type == "bounced"
    assert event.recipient == "john@example.com"
    assert event.message_id == str(message.message_id)
    assert event.timestamp == WHEN
    assert event.event_id == str(bounce.id)


def test_anymail_reads_our_spam_complaint_event(
    transactional_db, tenant, live_server, events
):
    message = sent_message(tenant)
    bounce = bounce_for(
        message, "SpamComplaint", WHEN, inactive=True, can_activate=False
    )
    deliver(tenant, live_server, payload_spam_complaint(bounce), "SpamComplaint")
    ((_, event),) = events
    assert event.event_type == "complained"
    assert event.recipient == "john@example.com"
    assert event.message_id == str(message.message_id)
    assert event.timestamp == WHEN


def test_anymail_refuses_a_wrong_secret(transactional_db, tenant, live_server, events):
    settings_secret = "someone:else"
    url = live_server.url.replace("http://", f"http://{settings_secret}@")
    webhook_create(
        server=tenant.server,
        data=WebhookInput(
            url=f"{url}/anymail/postmark/tracking/",
            triggers={"Delivery": {"Enabled": True}},
        ),
    )
    message = sent_message(tenant)
    with transaction.atomic():
        webhook_emit(
            server=tenant.server,
            message_stream="outbound",
            record_type="Delivery",
            payload=payload_delivery(message, "john@example.com", "250 OK", WHEN),
        )
    row = WebhookDelivery.objects.get()
    # anymail answers 400 to bad credentials: a 4xx, so kept as dead, not retried.
    assert webhook_delivery_attempt(delivery_id=row.id) == "dead"
    row.refresh_from_db()
    assert row.last_status_code == 400
    assert events == []
