from __future__ import annotations

import pytest

from accounts.models import MessageStream
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.org/postmark"


def create(api, tenant, **body):
    data = {"Url": URL, "Triggers": {"Delivery": {"Enabled": True}}}
    data.update(body)
    return api.send_json("POST", "/webhooks", data, **tenant.server_headers)


def test_it_creates_a_webhook_with_postmarks_shape(api, tenant):
    response = create(
        api,
        tenant,
        HttpAuth={"Username": "user", "Password": "pass"},
        HttpHeaders=[{"Name": "X-Env", "Value": "prod"}],
        Triggers={"Bounce": {"Enabled": True, "IncludeContent": True}},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ID"] == Webhook.objects.get().id
    assert body["Url"] == URL
    assert body["MessageStream"] == "outbound"
    assert body["HttpAuth"] == {"Username": "user", "Password": "pass"}
    assert body["HttpHeaders"] == [{"Name": "X-Env", "Value": "prod"}]
    assert body["Triggers"] == {
        "Open": {"Enabled": False, "PostFirstOpenOnly": False},
        "Click": {"Enabled": False},
        "Delivery": {"Enabled": False},
        "Bounce": {"Enabled": True, "IncludeContent": True},
        "SpamComplaint": {"Enabled": False, "IncludeContent": False},
        "SubscriptionChange": {"Enabled": False},
    }
    assert len(body["SigningSecret"]) == 64


def test_a_webhook_without_credentials_has_null_http_auth(api, tenant):
    body = create(api, tenant).json()
    assert body["HttpAuth"] == {"Username": None, "Password": None}
    assert body["HttpHeaders"] == []


def test_it_lists_webhooks_filtered_by_stream(api, tenant):
    first = create(api, tenant).json()
    second = create(api, tenant, MessageStream="broadcast").json()
    everything = api.get("/webhooks", **tenant.server_headers).json()
    assert [w["ID"] for w in everything["Webhooks"]] == [first["ID"], second["ID"]]
    only = api.get(
        "/webhooks", {"MessageStream": "broadcast"}, **tenant.server_headers
    ).json()
    assert [w["ID"] for w in only["Webhooks"]] == [second["ID"]]
    # postmark.js spells the key messageStream
    only = api.get(
        "/webhooks", {"messageStream": "outbound"}, **tenant.server_headers
    ).json()
    assert [w["ID"] for w in only["Webhooks"]] == [first["ID"]]


def test_list_costs_two_queries_however_many_webhooks(
    api, tenant, django_assert_num_queries
):
    for _ in range(5):
        create(api, tenant)
    with django_assert_num_queries(2):  # token lookup + the list
        response = api.get("/webhooks", **tenant.server_headers)
    assert len(response.json()["Webhooks"]) == 5


def test_it_gets_one_webhook(api, tenant):
    created = create(api, tenant).json()
    response = api.get(f"/webhooks/{created['ID']}", **tenant.server_headers)
    assert response.status_code == 200
    assert response.json() == created


def test_put_changes_only_the_given_triggers_and_fields(api, tenant):
    created = create(
        api, tenant, Triggers={"Bounce": {"Enabled": True, "IncludeContent": True}}
    ).json()
    response = api.send_json(
        "PUT",
        f"/webhooks/{created['ID']}",
        {
            "Url": "https://other.example.org/h",
            "Triggers": {
                "Bounce": {"IncludeContent": False},
                "Open": {"Enabled": True},
            },
        },
        **tenant.server_headers,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["Url"] == "https://other.example.org/h"
    assert body["Triggers"]["Bounce"] == {"Enabled": True, "IncludeContent": False}
    assert body["Triggers"]["Open"] == {"Enabled": True, "PostFirstOpenOnly": False}
    assert body["Triggers"]["Delivery"] == {"Enabled": False}
    assert body["SigningSecret"] == created["SigningSecret"]


def test_put_cannot_move_a_webhook_to_another_stream(api, tenant):
    created = create(api, tenant).json()
    response = api.send_json(
        "PUT",
        f"/webhooks/{created['ID']}",
        {"MessageStream": "broadcast"},
        **tenant.server_headers,
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1357


def test_delete_answers_postmarks_message(api, tenant):
    created = create(api, tenant).json()
    response = api.delete(f"/webhooks/{created['ID']}", **tenant.server_headers)
    assert response.status_code == 200
    assert response.json() == {
        "ErrorCode": 0,
        "Message": f"Webhook {created['ID']} removed.",
    }
    assert not Webhook.objects.exists()
    again = api.delete(f"/webhooks/{created['ID']}", **tenant.server_headers)
    assert again.json()["ErrorCode"] == 1352


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"Url": ""}, 1354),
        ({"Url": "ftp://example.org/x"}, 1354),
        ({"Url": "not a url"}, 1354),
        ({"ID": 5}, 1356),
        ({"Status": "verified"}, 1363),
        ({"HttpHeaders": [{"Name": "Bad Name", "Value": "x"}]}, 1358),
        ({"HttpHeaders": [{"Value": "x"}]}, 1358),
        ({"HttpHeaders": [{"Name": "Content-Length", "Value": "1"}]}, 1358),
        ({"HttpHeaders": [{"Name": "X-A", "Value": "a\r\nb"}]}, 1361),
        ({"Triggers": {"Delivery": {"Enabled": "yes"}}}, 1361),
        ({"Triggers": {"Teleport": {"Enabled": True}}}, 1361),
        ({"MessageStream": "inbound"}, 1351),
        ({"MessageStream": "nope"}, 1226),
    ],
)
def test_it_rejects_invalid_webhooks(api, tenant, body, code):
    response = create(api, tenant, **body)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == code
    assert not Webhook.objects.exists()


def test_an_archived_stream_takes_no_webhooks(api, tenant):
    from django.utils import timezone

    MessageStream.objects.filter(server=tenant.server, stream_id="broadcast").update(
        archived_at=timezone.now()
    )
    response = create(api, tenant, MessageStream="broadcast")
    assert response.json()["ErrorCode"] == 1350


def test_a_missing_body_is_error_1355(api, tenant):
    response = api.send_json("POST", "/webhooks", None, **tenant.server_headers)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1355


def test_a_stream_takes_at_most_ten_webhooks(api, tenant):
    for _ in range(10):
        assert create(api, tenant).status_code == 200
    response = create(api, tenant)
    assert response.json()["ErrorCode"] == 1359


def test_a_missing_webhook_is_error_1352(api, tenant):
    response = api.get("/webhooks/999999", **tenant.server_headers)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1352


def test_other_tenant_gets_not_found_on_every_operation(api, tenant, other_tenant):
    created = create(api, tenant).json()
    path = f"/webhooks/{created['ID']}"
    h = other_tenant.server_headers
    missing = api.get("/webhooks/999999", **h).json()
    assert api.get(path, **h).json() == missing
    assert api.send_json("PUT", path, {"Url": URL}, **h).json()["ErrorCode"] == 1352
    assert api.delete(path, **h).json()["ErrorCode"] == 1352
    assert api.get("/webhooks", **h).json() == {"Webhooks": []}
    assert Webhook.objects.get().url == URL


def test_webhooks_need_a_server_token(api, tenant):
    response = api.get("/webhooks", **tenant.account_headers)
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10


def test_a_non_numeric_id_is_not_routed_here(api, tenant):
    response = api.get("/webhooks/abc", **tenant.server_headers)
    assert response.status_code == 404


def test_put_accepts_its_own_id_but_not_another(api, tenant):
    created = create(api, tenant).json()
    path = f"/webhooks/{created['ID']}"
    same = api.send_json("PUT", path, {"ID": created["ID"]}, **tenant.server_headers)
    assert same.status_code == 200
    other = api.send_json(
        "PUT", path, {"ID": created["ID"] + 1}, **tenant.server_headers
    )
    assert other.json()["ErrorCode"] == 1357
