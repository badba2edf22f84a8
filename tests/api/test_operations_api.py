"""Operator endpoints: GET /health/routes and GET /metrics."""

from __future__ import annotations

import pytest

from messages.delivery import delivery_run
from messages.models import Message
from tests.messages.delivery_helpers import closed_port

pytestmark = pytest.mark.django_db


def test_route_health_lists_every_route_without_credentials(
    api, settings, clean_health
):
    settings.SENDER_POOL = "smtp://user:hunter2@relay.example:587?weight=2,mx://?helo=x"
    response = api.get("/health/routes")
    assert response.status_code == 200
    body = response.json()
    assert [r["Name"] for r in body["Routes"]] == [
        "smtp://relay.example:587",
        "mx://x",
    ]
    assert body["Routes"][0]["Weight"] == 2
    assert body["UpCount"] == 2
    assert b"hunter2" not in response.content


def test_route_health_shows_a_route_that_went_down(api, tenant, settings, clean_health):
    settings.SENDER_POOL = f"smtp://127.0.0.1:{closed_port()}?tls=none"
    api.send_json(
        "POST",
        "/email",
        {"From": tenant.sender, "To": "a@example.org", "TextBody": "x"},
        **tenant.server_headers,
    )
    delivery_run(message_ids=list(Message.objects.values_list("id", flat=True)))
    route = api.get("/health/routes").json()["Routes"][0]
    assert route["Up"] is False
    assert route["ConsecutiveFailures"] == 1
    assert "refused" in route["LastError"].lower()
    assert route["DownUntil"]


def test_operator_endpoints_require_the_metrics_token_when_set(api, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert api.get("/health/routes").status_code == 401
    assert api.get("/metrics").status_code == 401
    ok = api.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert ok.status_code == 200


def test_metrics_report_queue_depth_attempts_and_latency(api, tenant, sink, pool_to):
    pool_to(sink.port)
    for _ in range(3):
        api.send_json(
            "POST",
            "/email",
            {"From": tenant.sender, "To": "a@example.org", "TextBody": "x"},
            **tenant.server_headers,
        )
    text = api.get("/metrics").content.decode()
    assert 'pmc_delivery_queue_depth{status="queued"} 3.0' in text
    assert "pmc_delivery_oldest_queued_age_seconds" in text

    delivery_run(message_ids=list(Message.objects.values_list("id", flat=True)))
    text = api.get("/metrics").content.decode()
    assert 'pmc_delivery_queue_depth{status="queued"} 0.0' in text
    assert 'pmc_delivery_attempts_total{outcome="delivered"}' in text
    assert "pmc_delivery_accept_to_delivered_seconds_bucket" in text


def test_a_tenants_server_token_is_not_an_operator_token(api, tenant, settings):
    # Not tenant data: no tenant, whatever its token, sees the operator views.
    settings.METRICS_TOKEN = "s3cret"
    response = api.get("/health/routes", **tenant.server_headers)
    assert response.status_code == 401
