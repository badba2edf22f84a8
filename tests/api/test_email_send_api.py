from __future__ import annotations

import pytest

from messages.archive import archive_get
from messages.models import Message, Recipient

pytestmark = pytest.mark.django_db


def payload(tenant, **overrides):
    body = {
        "From": f"Acme Support <{tenant.sender}>",
        "To": "alice@example.org",
        "Subject": "Hello",
        "TextBody": "Hi Alice",
        "HtmlBody": "<p>Hi Alice</p>",
    }
    body.update(overrides)
    return body


def test_it_accepts_a_message_and_commits_row_and_raw_mime(api, tenant):
    response = api.send_json("POST", "/email", payload(tenant), **tenant.server_headers)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ErrorCode"] == 0
    assert body["Message"] == "OK"
    assert body["To"] == "alice@example.org"
    message = Message.objects.get(message_id=body["MessageID"])
    assert message.server == tenant.server
    assert Recipient.objects.filter(message=message).count() == 1
    raw = archive_get(key=message.archive_key)
    assert b"Subject: Hello" in raw
    assert f"X-PM-Message-Id: {body['MessageID']}".encode() in raw


def test_it_rejects_a_bad_token_with_error_code_10(api, tenant):
    response = api.send_json(
        "POST", "/email", payload(tenant), HTTP_X_POSTMARK_SERVER_TOKEN="nope"
    )
    assert response.status_code == 401
    assert response.json() == {
        "ErrorCode": 10,
        "Message": "Request does not contain a valid Server token.",
    }


def test_it_rejects_header_injection_in_subject(api, tenant):
    response = api.send_json(
        "POST",
        "/email",
        payload(tenant, Subject="Hi\r\nBcc: victim@example.org"),
        **tenant.server_headers,
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 300
    assert Message.objects.count() == 0


def test_it_refuses_a_from_domain_of_another_account(api, tenant, other_tenant):
    response = api.send_json(
        "POST",
        "/email",
        payload(tenant, From=other_tenant.sender),
        **tenant.server_headers,
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 400
    assert "is not a Sender Signature" in response.json()["Message"]


def test_it_matches_paths_ignoring_case_and_trailing_slash(api, tenant):
    response = api.send_json(
        "POST", "/EMAIL/", payload(tenant), **tenant.server_headers
    )
    assert response.status_code == 200


def test_the_test_token_validates_without_storing(api, tenant):
    response = api.send_json(
        "POST",
        "/email",
        payload(tenant),
        HTTP_X_POSTMARK_SERVER_TOKEN="POSTMARK_API_TEST",
    )
    assert response.status_code == 200
    assert response.json()["Message"] == "Test job accepted"
    assert Message.objects.count() == 0


def test_batch_answers_one_result_per_message_in_order(api, tenant):
    items = [payload(tenant, To=f"user{i}@example.org") for i in range(3)]
    items.insert(1, payload(tenant, To="not-an-address"))
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    assert response.status_code == 200
    results = response.json()
    assert [r["ErrorCode"] for r in results] == [0, 300, 0, 0]
    assert results[1]["Message"] == "Invalid 'To' address: 'not-an-address'."
    assert Message.objects.count() == 3


def test_the_response_echoes_to_verbatim_with_submitted_at_and_a_uuid(api, tenant):
    to = "Alice <alice@example.org>,  bob@example.org"
    response = api.send_json(
        "POST", "/email", payload(tenant, To=to), **tenant.server_headers
    )
    body = response.json()
    assert set(body) == {"To", "SubmittedAt", "MessageID", "ErrorCode", "Message"}
    assert body["To"] == to
    assert (
        len(body["MessageID"]) == 36 and body["MessageID"] == body["MessageID"].lower()
    )
    from django.utils.dateparse import parse_datetime

    assert parse_datetime(body["SubmittedAt"]).tzinfo is not None
    assert response["Content-Type"].startswith("application/json")


def test_a_cc_only_send_answers_without_to(api, tenant):
    body = payload(tenant, Cc="carol@example.org")
    del body["To"]
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert response.status_code == 200
    assert "To" not in response.json()


def test_it_stores_tag_metadata_stream_and_tracking(api, tenant):
    response = api.send_json(
        "POST",
        "/email",
        payload(
            tenant,
            Tag="welcome",
            Metadata={"user": "42", "plan": "pro"},
            TrackOpens=True,
            TrackLinks="HtmlAndText",
            MessageStream="outbound",
            ReplyTo="help@acme.example.com",
        ),
        **tenant.server_headers,
    )
    assert response.status_code == 200, response.content
    message = Message.objects.get(message_id=response.json()["MessageID"])
    assert message.tag == "welcome"
    assert message.metadata == {"user": "42", "plan": "pro"}
    assert message.track_opens is True
    assert message.track_links == "HtmlAndText"
    assert message.message_stream == "outbound"
    assert message.reply_to == "help@acme.example.com"


def test_nulls_and_empty_strings_mean_absent_as_postmarker_sends_them(api, tenant):
    body = payload(
        tenant,
        Cc=None,
        Bcc="",
        Tag=None,
        Metadata=None,
        MessageStream=None,
        TrackOpens=None,
        TrackLinks="None",
        ReplyTo="",
        Headers=[],
        Attachments=[],
    )
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert response.status_code == 200, response.content
    message = Message.objects.get(message_id=response.json()["MessageID"])
    assert message.message_stream == "outbound"
    assert message.tag == ""
    assert message.metadata == {}


def test_it_sends_on_the_broadcast_stream_and_refuses_an_unknown_one(api, tenant):
    ok = api.send_json(
        "POST",
        "/email",
        payload(tenant, MessageStream="broadcast"),
        **tenant.server_headers,
    )
    assert ok.status_code == 200
    bad = api.send_json(
        "POST", "/email", payload(tenant, MessageStream="nope"), **tenant.server_headers
    )
    assert bad.status_code == 422
    assert bad.json() == {
        "ErrorCode": 1235,
        "Message": "The stream provided: 'nope' does not exist on this server.",
    }


def test_a_revoked_token_is_refused(api, tenant):
    from django.utils import timezone

    from accounts.models import ServerToken

    ServerToken.objects.filter(server=tenant.server).update(revoked_at=timezone.now())
    response = api.send_json("POST", "/email", payload(tenant), **tenant.server_headers)
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10
    assert response["X-PM-ApiErrorCode"] == "10"


def test_an_account_token_cannot_send(api, tenant):
    response = api.send_json(
        "POST",
        "/email",
        payload(tenant),
        HTTP_X_POSTMARK_SERVER_TOKEN=tenant.account_token,
    )
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10


def test_other_tenant_cannot_send_as_this_tenant_nor_touch_its_messages(
    api, tenant, other_tenant
):
    """Another tenant's server token reaches its own server only: sending from the
    first tenant's domain is refused and nothing lands on the first tenant."""
    response = api.send_json(
        "POST", "/email", payload(tenant), **other_tenant.server_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 400
    assert not Message.objects.filter(server=tenant.server).exists()
    assert not Message.objects.filter(server=other_tenant.server).exists()


def test_batch_items_share_one_request_and_each_gets_its_own_message(api, tenant):
    items = [
        payload(tenant, To=f"user{i}@example.org", Tag=f"t{i}", Metadata={"i": str(i)})
        for i in range(5)
    ]
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    results = response.json()
    assert [r["To"] for r in results] == [f"user{i}@example.org" for i in range(5)]
    assert len({r["MessageID"] for r in results}) == 5
    tags = dict(Message.objects.values_list("message_id", "tag"))
    assert [tags[__import__("uuid").UUID(r["MessageID"])] for r in results] == [
        f"t{i}" for i in range(5)
    ]


def test_batch_reports_bad_items_without_failing_the_others(api, tenant):
    items = [
        payload(tenant),
        "not an object",
        payload(tenant, HtmlBody=None, TextBody=None),
        payload(tenant, MessageStream="missing"),
    ]
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    assert response.status_code == 200
    codes = [r["ErrorCode"] for r in response.json()]
    assert codes == [0, 402, 300, 1235]
    assert response.json()[2]["Message"] == (
        "Provide either email TextBody or HtmlBody or both."
    )
    assert Message.objects.count() == 1


def test_an_empty_batch_answers_an_empty_array(api, tenant):
    response = api.send_json("POST", "/email/batch", [], **tenant.server_headers)
    assert response.status_code == 200
    assert response.json() == []


def test_the_test_token_validates_batch_items_too(api, tenant):
    items = [payload(tenant), payload(tenant, To="bad@localhost")]
    response = api.send_json(
        "POST",
        "/email/batch",
        items,
        HTTP_X_POSTMARK_SERVER_TOKEN="POSTMARK_API_TEST",
    )
    results = response.json()
    assert results[0]["Message"] == "Test job accepted"
    assert results[1] == {
        "ErrorCode": 300,
        "Message": "Invalid 'To' address: 'bad@localhost'.",
    }
    assert Message.objects.count() == 0
