"""GET /messages/inbound, details, bypass, retry and /triggers/inboundrules."""

from __future__ import annotations

import pytest

from inbound.models import InboundMessage, InboundRule
from inbound.services import inbound_receive

from .conftest import inbound_address, set_hook, simple_eml

pytestmark = pytest.mark.django_db
Status = InboundMessage.Status


def receive(tenant, *, subject="Hello", sender="ana@example.org", mailbox_hash=""):
    address = inbound_address(tenant, mailbox_hash)
    (row,) = inbound_receive(
        mail_from=sender,
        rcpt_tos=[address],
        raw=simple_eml(sender=sender, to=address, subject=subject),
    ).messages
    return row


def get(api, tenant, path, **query):
    return api.get(path, query, HTTP_ACCEPT="application/json", **tenant.server_headers)


def put(api, tenant, path):
    return api.send_json("PUT", path, **tenant.server_headers)


def test_the_list_has_postmarks_shape(api, tenant):
    row = receive(tenant, subject="Order 1", mailbox_hash="o1")
    response = get(api, tenant, "/messages/inbound", count=10, offset=0)
    assert response.status_code == 200
    body = response.json()
    assert body["TotalCount"] == 1
    (item,) = body["InboundMessages"]
    assert item["MessageID"] == str(row.message_id)
    assert item["Status"] == "Processed"  # no InboundHookUrl
    assert item["Subject"] == "Order 1"
    assert item["From"] == "ana@example.org"
    assert item["FromName"] == "Ana"
    assert item["FromFull"] == {
        "Email": "ana@example.org",
        "Name": "Ana",
        "MailboxHash": "",
    }
    assert item["To"] == inbound_address(tenant, "o1")
    assert item["ToFull"][0]["MailboxHash"] == "o1"
    assert item["MailboxHash"] == "o1"
    assert item["OriginalRecipient"] == inbound_address(tenant, "o1")
    assert item["MessageStream"] == "inbound"
    assert item["Date"] == "Mon, 05 Jan 2026 10:00:00 +0000"
    assert item["Attachments"] == []
    assert item["Cc"] == "" and item["CcFull"] == []


def test_filters_narrow_the_list(api, tenant):
    receive(tenant, subject="Invoice 7", sender="billing@vendor.example")
    receive(tenant, subject="Hello", mailbox_hash="t9")
    blocked = receive(tenant, subject="Cheap pills", sender="spam@junk.example")
    InboundMessage.objects.filter(id=blocked.id).update(status=Status.BLOCKED)

    def subjects(**query):
        body = get(api, tenant, "/messages/inbound", count=50, offset=0, **query).json()
        return sorted(m["Subject"] for m in body["InboundMessages"])

    assert subjects(subject="invoice") == ["Invoice 7"]
    assert subjects(fromemail="vendor.example") == ["Invoice 7"]
    assert subjects(mailboxhash="t9") == ["Hello"]
    assert subjects(status="blocked") == ["Cheap pills"]
    assert subjects(status="processed") == ["Hello", "Invoice 7"]
    assert subjects(recipient=tenant.server.inbound_hash + "+t9") == ["Hello"]
    assert subjects(fromdate="2000-01-01", todate="2100-01-01") == [
        "Cheap pills",
        "Hello",
        "Invoice 7",
    ]
    assert subjects(todate="2000-01-01") == []
    # Query keys in any case, as the official clients send them.
    assert subjects(fromEmail="vendor.example") == ["Invoice 7"]


def test_paging_and_bad_queries_get_700(api, tenant):
    for i in range(3):
        receive(tenant, subject=f"m{i}")
    body = get(api, tenant, "/messages/inbound", count=2, offset=2).json()
    assert body["TotalCount"] == 3 and len(body["InboundMessages"]) == 1
    for query in (
        {"offset": 0},
        {"count": 501, "offset": 0},
        {"count": 1, "offset": 0, "status": "sent"},
        {"count": 1, "offset": 0, "fromdate": "yesterday"},
    ):
        response = get(api, tenant, "/messages/inbound", **query)
        assert response.status_code == 422
        assert response.json()["ErrorCode"] == 700


def test_the_list_costs_a_fixed_number_of_queries(
    api, tenant, django_assert_num_queries
):
    for i in range(5):
        receive(tenant, subject=f"m{i}")
    # token lookup + page + count
    with django_assert_num_queries(3):
        response = get(api, tenant, "/messages/inbound", count=50, offset=0)
    assert len(response.json()["InboundMessages"]) == 5


def test_details_add_bodies_headers_and_blocked_reason(api, tenant):
    row = receive(tenant, subject="Details")
    body = get(api, tenant, f"/messages/inbound/{row.message_id}/details").json()
    assert body["MessageID"] == str(row.message_id)
    assert body["TextBody"] == "Hi\n"
    assert body["HtmlBody"] == ""
    assert body["StrippedTextReply"] == ""
    assert body["BlockedReason"] == ""
    assert body["Headers"][0] == {"Name": "Return-Path", "Value": "<ana@example.org>"}
    assert {"Name": "Message-ID", "Value": "<m1@example.org>"} in body["Headers"]
    assert "RawEmail" not in body


def test_details_include_raw_email_when_enabled(api, tenant):
    tenant.server.raw_email_enabled = True
    tenant.server.save()
    row = receive(tenant)
    body = get(api, tenant, f"/messages/inbound/{row.message_id}/details").json()
    assert body["RawEmail"].startswith("From: Ana <ana@example.org>")


def test_unknown_or_malformed_ids_get_701(api, tenant):
    for message_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        response = get(api, tenant, f"/messages/inbound/{message_id}/details")
        assert response.status_code == 422
        assert response.json() == {
            "ErrorCode": 701,
            "Message": "This message was not found.",
        }
        assert (
            put(api, tenant, f"/messages/inbound/{message_id}/bypass").json()[
                "ErrorCode"
            ]
            == 701
        )
        assert (
            put(api, tenant, f"/messages/inbound/{message_id}/retry").json()[
                "ErrorCode"
            ]
            == 701
        )


def test_bypass_requeues_a_blocked_message(api, tenant):
    set_hook(tenant, "http://127.0.0.1:9/hook")
    InboundRule.objects.create(server=tenant.server, rule="example.org")
    row = receive(tenant)
    assert row.status == Status.BLOCKED
    response = put(api, tenant, f"/messages/inbound/{row.message_id}/bypass")
    assert response.status_code == 200
    assert response.json() == {
        "ErrorCode": 0,
        "Message": f"Successfully bypassed message: {row.message_id}",
    }
    row.refresh_from_db()
    assert row.status == Status.QUEUED and row.next_attempt_at is not None
    again = put(api, tenant, f"/messages/inbound/{row.message_id}/bypass")
    assert again.status_code == 422 and again.json()["ErrorCode"] == 702


def test_retry_requeues_a_failed_message_with_a_fresh_schedule(api, tenant):
    set_hook(tenant, "http://127.0.0.1:9/hook")
    row = receive(tenant)
    InboundMessage.objects.filter(id=row.id).update(status=Status.FAILED, attempts=11)
    response = put(api, tenant, f"/messages/inbound/{row.message_id}/retry")
    assert response.json() == {
        "ErrorCode": 0,
        "Message": f"Successfully rescheduled failed message: {row.message_id}",
    }
    row.refresh_from_db()
    assert row.status == Status.QUEUED and row.attempts == 0
    again = put(api, tenant, f"/messages/inbound/{row.message_id}/retry")
    assert again.status_code == 422 and again.json()["ErrorCode"] == 703


def test_another_tenant_sees_nothing_and_gets_701(api, tenant, other_tenant):
    row = receive(tenant)
    InboundMessage.objects.filter(id=row.id).update(status=Status.FAILED)
    listed = get(api, other_tenant, "/messages/inbound", count=10, offset=0).json()
    assert listed == {"TotalCount": 0, "InboundMessages": []}
    for response in (
        get(api, other_tenant, f"/messages/inbound/{row.message_id}/details"),
        put(api, other_tenant, f"/messages/inbound/{row.message_id}/retry"),
    ):
        assert response.status_code == 422 and response.json()["ErrorCode"] == 701
    row.refresh_from_db()
    assert row.status == Status.FAILED


def test_a_wrong_token_gets_401(api):
    response = api.get(
        "/messages/inbound?count=1&offset=0", HTTP_X_POSTMARK_SERVER_TOKEN="nope"
    )
    assert response.status_code == 401 and response.json()["ErrorCode"] == 10


# --- Inbound rule triggers --------------------------------------------------------------


def test_inbound_rules_can_be_created_listed_and_deleted(api, tenant):
    created = api.send_json(
        "POST",
        "/triggers/inboundrules",
        {"Rule": "Spammer@Junk.example"},
        **tenant.server_headers,
    )
    assert created.status_code == 200
    rule = created.json()
    assert rule == {"ID": rule["ID"], "Rule": "spammer@junk.example"}
    api.send_json(
        "POST",
        "/triggers/inboundRules",
        {"Rule": "junk.example"},
        **tenant.server_headers,
    )
    listed = get(api, tenant, "/triggers/inboundrules", count=10, offset=0).json()
    assert listed["TotalCount"] == 2
    assert [r["Rule"] for r in listed["InboundRules"]] == [
        "spammer@junk.example",
        "junk.example",
    ]
    deleted = api.send_json(
        "DELETE", f"/triggers/inboundrules/{rule['ID']}", **tenant.server_headers
    )
    assert deleted.json() == {"ErrorCode": 0, "Message": f"Rule {rule['ID']} removed."}
    assert InboundRule.objects.filter(server=tenant.server).count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, 809),
        ({"Rule": ""}, 809),
        ({"Rule": "not an address"}, 813),
        ({"Rule": "a@b@c"}, 813),
        ({"Rule": 42}, 813),
    ],
)
def test_bad_rules_get_specific_errors(api, tenant, body, code):
    response = api.send_json(
        "POST", "/triggers/inboundrules", body, **tenant.server_headers
    )
    assert response.status_code == 422 and response.json()["ErrorCode"] == code


def test_a_duplicate_rule_gets_810_and_an_unknown_delete_812(api, tenant, other_tenant):
    rule = InboundRule.objects.create(server=tenant.server, rule="junk.example")
    response = api.send_json(
        "POST",
        "/triggers/inboundrules",
        {"Rule": "JUNK.example"},
        **tenant.server_headers,
    )
    assert response.json()["ErrorCode"] == 810
    # Another tenant can neither see nor delete it.
    assert get(api, other_tenant, "/triggers/inboundrules").json() == {
        "TotalCount": 0,
        "InboundRules": [],
    }
    response = api.send_json(
        "DELETE", f"/triggers/inboundrules/{rule.id}", **other_tenant.server_headers
    )
    assert response.status_code == 422 and response.json()["ErrorCode"] == 812
    assert InboundRule.objects.filter(id=rule.id).exists()


def test_get_server_reports_the_inbound_address_at_the_configured_domain(
    api, tenant, settings
):
    settings.INBOUND_ADDRESS_DOMAIN = "in.mail.example"
    body = get(api, tenant, "/server").json()
    assert body["InboundAddress"] == f"{tenant.server.inbound_hash}@in.mail.example"
    assert body["InboundHash"] == tenant.server.inbound_hash
