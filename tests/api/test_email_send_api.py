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
