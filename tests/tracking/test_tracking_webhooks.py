"""Open and Click webhooks through the outbox (rows written with the event)."""

from __future__ import annotations

import pytest

from webhooks.models import Webhook, WebhookDelivery, default_triggers

from .helpers import GMAIL, IPHONE, drain, send_tracked

pytestmark = pytest.mark.django_db


def _hook(tenant, url, **triggers) -> Webhook:
    merged = default_triggers()
    for name, options in triggers.items():
        merged[name] = {**merged[name], **options}
    return Webhook.objects.create(
        server=tenant.server, message_stream="outbound", url=url, triggers=merged
    )


def _bodies(hook: Webhook, record_type: str) -> list[dict]:
    return [
        d.payload
        for d in WebhookDelivery.objects.filter(
            webhook=hook, record_type=record_type
        ).order_by("id")
    ]


def test_opens_reach_open_webhooks_and_post_first_open_only_is_honoured(
    api, tenant, hit
):
    every = _hook(tenant, "https://a.example/hook", Open={"Enabled": True})
    first_only = _hook(
        tenant,
        "https://b.example/hook",
        Open={"Enabled": True, "PostFirstOpenOnly": True},
    )
    clicks_only = _hook(tenant, "https://c.example/hook", Click={"Enabled": True})
    message = send_tracked(api, tenant)
    row = message.recipients.get()
    hit(row, ua=GMAIL)
    hit(row, ua=IPHONE)
    drain()

    payloads = _bodies(every, "Open")
    assert [p["FirstOpen"] for p in payloads] == [True, False]
    assert [p["FirstOpen"] for p in _bodies(first_only, "Open")] == [True]
    assert _bodies(clicks_only, "Open") == []
    first = payloads[0]
    assert first["RecordType"] == "Open"
    assert first["MessageID"] == str(message.message_id)
    assert first["Recipient"] == "alice@example.org"
    assert first["Client"] == {"Name": "Gmail", "Company": "Google", "Family": "Gmail"}
    assert first["Platform"] == "WebMail"
    assert first["Metadata"] == {"campaign": "42"}
    assert first["Tag"] == "spring"
    assert first["ReceivedAt"].endswith("Z")
    assert "ServerID" not in first


def test_a_click_webhook_fires_once_per_link_and_recipient(api, tenant, hit):
    hook = _hook(tenant, "https://a.example/hook", Click={"Enabled": True})
    row = send_tracked(api, tenant).recipients.get()
    for _ in range(3):
        hit(row, url="https://shop.example.com/a", ua=IPHONE)
    hit(row, url="https://shop.example.com/b", ua=IPHONE, text=True)
    drain()
    payloads = _bodies(hook, "Click")
    assert [(p["OriginalLink"], p["ClickLocation"]) for p in payloads] == [
        ("https://shop.example.com/a", "HTML"),
        ("https://shop.example.com/b", "Text"),
    ]
    assert payloads[0]["RecordType"] == "Click"
    assert payloads[0]["Metadata"] == {"campaign": "42"}


def test_legacy_open_and_click_hook_urls_get_events(api, tenant, hit):
    server = tenant.server
    server.open_hook_url = "https://legacy.example/opens"
    server.click_hook_url = "https://legacy.example/clicks"
    server.post_first_open_only = True
    server.save()
    row = send_tracked(api, tenant).recipients.get()
    hit(row, ua=GMAIL)
    hit(row, ua=GMAIL)
    hit(row, url="https://shop.example.com/a")
    drain()
    opens = Webhook.objects.get(url="https://legacy.example/opens")
    clicks = Webhook.objects.get(url="https://legacy.example/clicks")
    assert opens.triggers["Open"] == {"Enabled": True, "PostFirstOpenOnly": True}
    assert not opens.trigger_enabled("Click")
    assert [p["FirstOpen"] for p in _bodies(opens, "Open")] == [True]
    assert len(_bodies(clicks, "Click")) == 1
    # Running again does not duplicate the mirrored webhooks.
    hit(row, url="https://shop.example.com/b")
    drain()
    assert Webhook.objects.filter(server=server).count() == 2


def test_another_tenants_webhooks_get_nothing(api, tenant, other_tenant, hit):
    theirs = Webhook.objects.create(
        server=other_tenant.server,
        message_stream="outbound",
        url="https://other.example/hook",
        triggers={**default_triggers(), "Open": {"Enabled": True}},
    )
    row = send_tracked(api, tenant).recipients.get()
    hit(row)
    drain()
    assert not WebhookDelivery.objects.filter(webhook=theirs).exists()
