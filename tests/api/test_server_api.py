"""Server API: ``GET/PUT /server`` (X-Postmark-Server-Token)."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import Server

from .test_servers_api import SERVER_KEYS

pytestmark = pytest.mark.django_db


def test_get_server_returns_the_tokens_own_server(api, tenant, other_tenant):
    response = api.send_json("GET", "/server", **tenant.server_headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SERVER_KEYS
    assert body["ID"] == tenant.server.id
    assert body["Name"] == "acme server"
    assert body["ApiTokens"] == [tenant.server_token[:12] + "…"]


def test_put_server_updates_settings(api, tenant):
    response = api.send_json(
        "PUT",
        "/Server/",
        {
            "Name": "Acme Mail",
            "Color": "yellow",
            "TrackOpens": True,
            "TrackLinks": "HtmlOnly",
            "OpenHookUrl": "https://hooks.acme.test/open",
            "InboundSpamThreshold": 5,
        },
        **tenant.server_headers,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["Name"] == "Acme Mail"
    assert body["Color"] == "Yellow"
    assert body["TrackOpens"] is True
    assert body["TrackLinks"] == "HtmlOnly"
    assert body["OpenHookUrl"] == "https://hooks.acme.test/open"
    tenant.server.refresh_from_db()
    assert tenant.server.track_links == "HtmlOnly"
    assert tenant.server.inbound_spam_threshold == 5


def test_put_server_accepts_a_get_response_echoed_back(api, tenant):
    body = api.send_json("GET", "/server", **tenant.server_headers).json()
    body["Name"] = "Echoed"
    response = api.send_json("PUT", "/server", body, **tenant.server_headers)
    assert response.status_code == 200, response.content
    assert response.json()["Name"] == "Echoed"
    assert response.json()["ApiTokens"] == body["ApiTokens"]


def test_put_server_rejects_bad_values_and_changes_nothing(api, tenant):
    response = api.send_json(
        "PUT",
        "/server",
        {"Name": "Changed", "ClickHookUrl": "javascript:alert(1)"},
        **tenant.server_headers,
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 606
    tenant.server.refresh_from_db()
    assert tenant.server.name == "acme server"


def test_put_server_cannot_reach_another_tenants_server(api, tenant, other_tenant):
    response = api.send_json(
        "PUT",
        "/server",
        {"ID": other_tenant.server.id, "Name": "Mine now"},
        **tenant.server_headers,
    )
    assert response.json()["ID"] == tenant.server.id
    assert Server.objects.get(id=other_tenant.server.id).name == "globex server"


def test_an_account_token_cannot_use_the_server_api(api, tenant):
    response = api.send_json(
        "GET", "/server", HTTP_X_POSTMARK_SERVER_TOKEN=tenant.account_token
    )
    assert response.status_code == 401
    assert response.json() == {
        "ErrorCode": 10,
        "Message": "Request does not contain a valid Server token.",
    }
    only_account_header = api.send_json("GET", "/server", **tenant.account_headers)
    assert only_account_header.status_code == 401


def test_a_revoked_server_token_is_refused_and_a_new_one_works(api, tenant):
    new = services.server_token_create(server=tenant.server, name="rotation")
    services.token_revoke(token=tenant.server.tokens.order_by("id").first())
    refused = api.send_json("GET", "/server", **tenant.server_headers)
    assert refused.status_code == 401
    assert refused.json()["ErrorCode"] == 10
    ok = api.send_json("GET", "/server", HTTP_X_POSTMARK_SERVER_TOKEN=new.token)
    assert ok.json()["ApiTokens"] == [new.token[:12] + "…"]


def test_the_test_token_cannot_read_server_settings(api, tenant):
    response = api.send_json(
        "GET", "/server", HTTP_X_POSTMARK_SERVER_TOKEN="POSTMARK_API_TEST"
    )
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10
