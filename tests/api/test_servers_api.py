"""Account API: ``/servers`` (X-Postmark-Account-Token)."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import MessageStream, Server, ServerToken
from accounts.tokens import token_hash

pytestmark = pytest.mark.django_db

SERVER_KEYS = {
    "ID",
    "Name",
    "ApiTokens",
    "ServerLink",
    "Color",
    "SmtpApiActivated",
    "RawEmailEnabled",
    "DeliveryType",
    "InboundAddress",
    "InboundHookUrl",
    "BounceHookUrl",
    "OpenHookUrl",
    "DeliveryHookUrl",
    "ClickHookUrl",
    "PostFirstOpenOnly",
    "InboundDomain",
    "InboundHash",
    "InboundSpamThreshold",
    "TrackOpens",
    "TrackLinks",
    "IncludeBounceContentInHook",
    "EnableSmtpApiErrorHooks",
}


def create(api, tenant, **body):
    return api.send_json("POST", "/servers", body, **tenant.account_headers)


def test_creating_a_server_shows_its_token_once_and_the_token_works(api, tenant):
    response = create(api, tenant, Name="Production", Color="red")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == SERVER_KEYS
    assert body["Name"] == "Production"
    assert body["Color"] == "Red"
    assert body["DeliveryType"] == "Live"
    assert body["InboundAddress"] == f"{body['InboundHash']}@inbound.localhost"
    assert body["ServerLink"].endswith(f"/ui/servers/{body['ID']}")
    [token] = body["ApiTokens"]
    # Stored hashed, never in plaintext.
    row = ServerToken.objects.get(server_id=body["ID"])
    assert row.token_hash == token_hash(token)
    assert not ServerToken.objects.filter(token_hash=token).exists()
    # The full token reaches the new server.
    server = api.send_json("GET", "/server", HTTP_X_POSTMARK_SERVER_TOKEN=token)
    assert server.status_code == 200
    assert server.json()["ID"] == body["ID"]
    # Later reads show it masked.
    again = api.send_json("GET", f"/servers/{body['ID']}", **tenant.account_headers)
    assert again.json()["ApiTokens"] == [token[:12] + "…"]


def test_a_new_server_gets_the_three_default_streams(api, tenant):
    body = create(api, tenant, Name="Streams").json()
    streams = MessageStream.objects.filter(server_id=body["ID"])
    assert {(s.stream_id, s.stream_type) for s in streams} == {
        ("outbound", "Transactional"),
        ("inbound", "Inbound"),
        ("broadcast", "Broadcasts"),
    }


def test_create_accepts_settings_and_sandbox_delivery(api, tenant):
    body = create(
        api,
        tenant,
        Name="Staging",
        DeliveryType="sandbox",
        SmtpApiActivated=False,
        TrackOpens=True,
        TrackLinks="htmlandtext",
        InboundSpamThreshold=15,
        BounceHookUrl="https://hooks.example.org/bounce",
        PostFirstOpenOnly="true",
    ).json()
    assert body["DeliveryType"] == "Sandbox"
    assert body["SmtpApiActivated"] is False
    assert body["TrackOpens"] is True
    assert body["TrackLinks"] == "HtmlAndText"
    assert body["InboundSpamThreshold"] == 15
    assert body["BounceHookUrl"] == "https://hooks.example.org/bounce"
    assert body["PostFirstOpenOnly"] is True


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, 608),
        ({"Name": "  "}, 608),
        ({"Name": "x" * 256}, 608),
        ({"Name": "A", "Color": "Magenta"}, 607),
        ({"Name": "A", "DeliveryType": "Test"}, 613),
        ({"Name": "A", "BounceHookUrl": "ftp://example.org/x"}, 606),
        ({"Name": "A", "OpenHookUrl": "not a url"}, 606),
        ({"Name": "A", "InboundSpamThreshold": 7}, 611),
        ({"Name": "A", "InboundSpamThreshold": "ten"}, 611),
        ({"Name": "A", "TrackLinks": "Everything"}, 612),
        ({"Name": "A", "TrackOpens": "sometimes"}, 403),
    ],
)
def test_create_rejects_bad_settings_with_postmark_codes(api, tenant, body, code):
    response = create(api, tenant, **body)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == code
    assert response["X-PM-ApiErrorCode"] == str(code)
    assert Server.objects.filter(account=tenant.account).count() == 1


def test_create_rejects_a_body_that_is_not_an_object(api, tenant):
    response = api.send_json("POST", "/servers", ["x"], **tenant.account_headers)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 609


def test_create_rejects_a_duplicate_name_in_the_same_account(api, tenant):
    response = create(api, tenant, Name=tenant.server.name)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 603


def test_two_accounts_may_use_the_same_server_name(api, tenant, other_tenant):
    response = create(api, tenant, Name=other_tenant.server.name)
    assert response.status_code == 200


def test_list_pages_with_count_offset_and_name(api, tenant):
    for name in ("Alpha", "Beta", "Gamma", "alphabet"):
        services.server_create(account=tenant.account, name=name)
    response = api.send_json(
        "GET", "/servers?count=2&offset=1", **tenant.account_headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["TotalCount"] == 5
    assert [s["Name"] for s in body["Servers"]] == ["Alpha", "Beta"]
    assert all(token.endswith("…") for s in body["Servers"] for token in s["ApiTokens"])
    named = api.send_json(
        "GET", "/servers?count=10&offset=0&name=alpha", **tenant.account_headers
    ).json()
    assert named["TotalCount"] == 2
    assert [s["Name"] for s in named["Servers"]] == ["Alpha", "alphabet"]


def test_list_matches_query_keys_and_path_ignoring_case(api, tenant):
    services.server_create(account=tenant.account, name="Second")
    response = api.send_json(
        "GET", "/Servers/?Count=1&OFFSET=0&Name=SEC", **tenant.account_headers
    )
    assert response.status_code == 200
    assert [s["Name"] for s in response.json()["Servers"]] == ["Second"]


@pytest.mark.parametrize(
    "query", ["count=0", "count=501", "count=abc", "offset=-1", "count=5&offset=x"]
)
def test_list_rejects_bad_paging(api, tenant, query):
    response = api.send_json("GET", f"/servers?{query}", **tenant.account_headers)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 600


def test_list_never_shows_another_accounts_servers(api, tenant, other_tenant):
    body = api.send_json(
        "GET", "/servers?count=500&offset=0", **tenant.account_headers
    ).json()
    assert body["TotalCount"] == 1
    assert [s["ID"] for s in body["Servers"]] == [tenant.server.id]


def test_list_query_count_does_not_grow_with_servers(
    api, tenant, django_assert_num_queries
):
    for i in range(5):
        created = services.server_create(account=tenant.account, name=f"S{i}")
        services.server_token_create(server=created.obj)
    # token lookup, page, active tokens (one prefetch), count
    with django_assert_num_queries(4):
        response = api.send_json(
            "GET", "/servers?count=50&offset=0", **tenant.account_headers
        )
    assert len(response.json()["Servers"]) == 6
    assert len(response.json()["Servers"][1]["ApiTokens"]) == 2


def test_get_shows_only_live_tokens(api, tenant):
    extra = services.server_token_create(server=tenant.server)
    first = ServerToken.objects.filter(server=tenant.server).order_by("id").first()
    services.token_revoke(token=first)
    body = api.send_json(
        "GET", f"/servers/{tenant.server.id}", **tenant.account_headers
    ).json()
    assert body["ApiTokens"] == [extra.token[:12] + "…"]


def test_put_changes_a_subset_and_returns_the_whole_server(api, tenant):
    response = api.send_json(
        "PUT",
        f"/servers/{tenant.server.id}",
        {"Name": "Renamed", "Color": "GREEN", "DeliveryHookUrl": "http://h.example/d"},
        **tenant.account_headers,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == SERVER_KEYS
    assert (body["Name"], body["Color"]) == ("Renamed", "Green")
    assert body["DeliveryHookUrl"] == "http://h.example/d"
    tenant.server.refresh_from_db()
    assert tenant.server.name == "Renamed"
    # "" clears a hook URL; null leaves a field alone.
    cleared = api.send_json(
        "PUT",
        f"/servers/{tenant.server.id}",
        {"DeliveryHookUrl": "", "Name": None},
        **tenant.account_headers,
    ).json()
    assert cleared["DeliveryHookUrl"] == ""
    assert cleared["Name"] == "Renamed"


def test_put_keeps_the_delivery_type_fixed(api, tenant):
    body = api.send_json(
        "PUT",
        f"/servers/{tenant.server.id}",
        {"DeliveryType": "Sandbox"},
        **tenant.account_headers,
    ).json()
    assert body["DeliveryType"] == "Live"


def test_put_rejects_a_name_used_by_another_server(api, tenant):
    services.server_create(account=tenant.account, name="Taken")
    response = api.send_json(
        "PUT",
        f"/servers/{tenant.server.id}",
        {"Name": "Taken", "Color": "Blue"},
        **tenant.account_headers,
    )
    assert response.json()["ErrorCode"] == 603
    tenant.server.refresh_from_db()
    assert tenant.server.color == "Purple"


def test_delete_removes_the_server_and_its_tokens(api, tenant):
    response = api.send_json(
        "DELETE", f"/servers/{tenant.server.id}", **tenant.account_headers
    )
    assert response.status_code == 200
    assert response.json() == {
        "ErrorCode": 0,
        "Message": f"Server {tenant.server.name} removed.",
    }
    assert not Server.objects.filter(id=tenant.server.id).exists()
    gone = api.send_json("GET", "/server", **tenant.server_headers)
    assert gone.status_code == 401
    again = api.send_json(
        "GET", f"/servers/{tenant.server.id}", **tenant.account_headers
    )
    assert again.json()["ErrorCode"] == 601


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_tenant_gets_not_found(api, tenant, other_tenant, method):
    response = api.send_json(
        method,
        f"/servers/{other_tenant.server.id}",
        {"Name": "Hijacked"} if method == "PUT" else None,
        **tenant.account_headers,
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 601
    missing = api.send_json(method, "/servers/999999", **tenant.account_headers)
    # Indistinguishable from a server that does not exist.
    assert missing.json()["Message"].replace("999999", "X") == response.json()[
        "Message"
    ].replace(str(other_tenant.server.id), "X")
    other_tenant.server.refresh_from_db()
    assert other_tenant.server.name == "globex server"


@pytest.mark.parametrize("server_id", ["abc", "-1", "1.5", "99999999999999999999"])
def test_a_non_numeric_id_is_not_found(api, tenant, server_id):
    response = api.send_json("GET", f"/servers/{server_id}", **tenant.account_headers)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 601


def test_a_server_token_cannot_use_the_account_api(api, tenant):
    response = api.send_json(
        "GET",
        "/servers",
        HTTP_X_POSTMARK_ACCOUNT_TOKEN=tenant.server_token,
    )
    assert response.status_code == 401
    assert response.json() == {
        "ErrorCode": 10,
        "Message": "Request does not contain a valid Account token.",
    }
    only_server_header = api.send_json("GET", "/servers", **tenant.server_headers)
    assert only_server_header.status_code == 401
    assert only_server_header.json()["ErrorCode"] == 10


def test_a_revoked_account_token_is_refused(api, tenant):
    services.token_revoke(token=tenant.account.tokens.get())
    response = api.send_json("GET", "/servers", **tenant.account_headers)
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10
