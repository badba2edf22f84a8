"""Suppressions per stream, PUT /bounces/{id}/activate, and what a send to an
inactive address answers (postmark-api.md §2.2, §3, §8)."""

from __future__ import annotations

import re

import pytest

from bounces.models import Suppression
from bounces.services import bounce_record
from messages.models import Message, Recipient
from tests.bounces.helpers import send

pytestmark = pytest.mark.django_db

SEND_406 = re.compile(
    r"^You tried to send to recipient\(s\) that have been marked as inactive\. "
    r"Found inactive addresses: (.+?)\. Inactive recipients are ones that have "
    r"generated a hard bounce, a spam complaint, or a manual suppression\.$"
)


def email(tenant, to, **extra):
    return {
        "From": tenant.sender,
        "To": to,
        "Subject": "Hi",
        "TextBody": "Hello",
        **extra,
    }


def post_email(api, tenant, to, **extra):
    return api.send_json(
        "POST", "/email", email(tenant, to, **extra), **tenant.server_headers
    )


def hard_bounce(tenant, to):
    message = send(tenant, to=to)
    return bounce_record(
        server=tenant.server,
        message=message,
        email=to,
        smtp_status="5.1.1",
        diagnostic="550 5.1.1 User unknown",
    )


def test_round_trip_hard_bounce_then_406_then_activate_then_ok(api, tenant):
    first = post_email(api, tenant, "bob@example.net")
    assert first.status_code == 200 and first.json()["ErrorCode"] == 0
    message = Message.objects.get(message_id=first.json()["MessageID"])
    bounce = bounce_record(
        server=tenant.server,
        message=message,
        email="bob@example.net",
        smtp_status="5.1.1",
        diagnostic="550 5.1.1 User unknown",
    )
    listed = api.send_json(
        "GET", "/bounces?count=10&offset=0&inactive=true", **tenant.server_headers
    ).json()
    assert [b["ID"] for b in listed["Bounces"]] == [bounce.id]

    refused = post_email(api, tenant, "Bob@example.net")
    assert refused.status_code == 422
    body = refused.json()
    assert body["ErrorCode"] == 406
    assert SEND_406.match(body["Message"]).group(1) == "Bob@example.net"
    assert Message.objects.count() == 1  # nothing stored for the refused send

    activated = api.send_json(
        "PUT", f"/bounces/{bounce.id}/activate", {}, **tenant.server_headers
    )
    assert activated.status_code == 200
    assert activated.json()["Message"] == "OK"
    assert activated.json()["Bounce"]["ID"] == bounce.id
    assert activated.json()["Bounce"]["Inactive"] is False

    again = post_email(api, tenant, "bob@example.net")
    assert again.status_code == 200 and again.json()["ErrorCode"] == 0


def test_some_inactive_recipients_are_skipped_and_named(api, tenant):
    hard_bounce(tenant, "dead@example.org")
    hard_bounce(tenant, "gone@example.org")
    response = post_email(
        api, tenant, "alive@example.org, dead@example.org, gone@example.org"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["ErrorCode"] == 0
    assert body["Message"] == (
        "Message OK, but will not deliver to these inactive addresses: "
        "dead@example.org, gone@example.org. Inactive recipients are ones that "
        "have generated a hard bounce or a spam complaint."
    )
    # anymail's parser finds exactly the two addresses.
    found = re.search(
        r"inactive addresses:\s*(.*)\.\s*Inactive recipients", body["Message"]
    )
    assert found.group(1).split(", ") == ["dead@example.org", "gone@example.org"]
    statuses = dict(
        Recipient.objects.filter(message__message_id=body["MessageID"]).values_list(
            "email", "status"
        )
    )
    assert statuses == {
        "alive@example.org": "queued",
        "dead@example.org": "suppressed",
        "gone@example.org": "suppressed",
    }


def test_a_batch_checks_each_message_and_each_stream(api, tenant):
    hard_bounce(tenant, "dead@example.org")
    items = [
        email(tenant, "dead@example.org"),
        email(tenant, "dead@example.org", MessageStream="broadcast"),
        email(tenant, "alive@example.org"),
    ]
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    results = response.json()
    assert [r["ErrorCode"] for r in results] == [406, 0, 0]
    assert SEND_406.match(results[0]["Message"])


def test_suppressions_are_per_stream_and_manual_entries_block_sends(api, tenant):
    response = api.send_json(
        "POST",
        "/message-streams/broadcast/suppressions",
        {
            "Suppressions": [
                {"EmailAddress": "Manual@Example.org"},
                {"EmailAddress": "nope"},
            ]
        },
        **tenant.server_headers,
    )
    assert response.status_code == 200
    assert response.json() == {
        "Suppressions": [
            {
                "EmailAddress": "Manual@Example.org",
                "Status": "Suppressed",
                "Message": None,
            },
            {
                "EmailAddress": "nope",
                "Status": "Failed",
                "Message": "Invalid email address.",
            },
        ]
    }
    blocked = post_email(api, tenant, "manual@example.org", MessageStream="broadcast")
    assert blocked.json()["ErrorCode"] == 406
    assert post_email(api, tenant, "manual@example.org").json()["ErrorCode"] == 0

    dump = api.send_json(
        "GET", "/message-streams/broadcast/suppressions/dump", **tenant.server_headers
    ).json()
    (row,) = dump["Suppressions"]
    assert row["EmailAddress"] == "manual@example.org"
    assert row["SuppressionReason"] == "ManualSuppression"
    assert row["Origin"] == "Customer"
    assert row["CreatedAt"]
    outbound = api.send_json(
        "GET", "/message-streams/outbound/suppressions/dump", **tenant.server_headers
    ).json()
    assert outbound == {"Suppressions": []}


def test_the_dump_filters_by_reason_origin_and_address(api, tenant):
    hard_bounce(tenant, "hard@example.org")
    Suppression.objects.create(
        server=tenant.server,
        message_stream="outbound",
        email="manual@example.org",
        reason="ManualSuppression",
        origin="Customer",
    )

    def emails(query):
        response = api.send_json(
            "GET",
            f"/message-streams/outbound/suppressions/dump?{query}",
            **tenant.server_headers,
        )
        assert response.status_code == 200, response.content
        return [s["EmailAddress"] for s in response.json()["Suppressions"]]

    assert emails("SuppressionReason=HardBounce") == ["hard@example.org"]
    assert emails("Origin=Customer") == ["manual@example.org"]
    assert emails("EmailAddress=HARD@example.org") == ["hard@example.org"]
    assert sorted(emails("fromdate=2020-01-01")) == [
        "hard@example.org",
        "manual@example.org",
    ]
    assert emails("todate=2020-01-01") == []
    bad = api.send_json(
        "GET",
        "/message-streams/outbound/suppressions/dump?SuppressionReason=Bogus",
        **tenant.server_headers,
    )
    assert bad.status_code == 422 and bad.json()["ErrorCode"] == 1404


def test_deleting_reactivates_but_spam_complaints_stay(api, tenant):
    bounce = hard_bounce(tenant, "hard@example.org")
    message = send(tenant, to="angry@example.org")
    bounce_record(
        server=tenant.server,
        message=message,
        email="angry@example.org",
        bounce_type="SpamComplaint",
    )
    response = api.send_json(
        "POST",
        "/message-streams/outbound/suppressions/delete",
        {
            "Suppressions": [
                {"EmailAddress": "hard@example.org"},
                {"EmailAddress": "angry@example.org"},
                {"EmailAddress": "never@example.org"},
            ]
        },
        **tenant.server_headers,
    )
    assert [s["Status"] for s in response.json()["Suppressions"]] == [
        "Deleted",
        "Failed",
        "Deleted",
    ]
    assert response.json()["Suppressions"][1]["Message"] == (
        "You do not have the required authority to change this suppression."
    )
    bounce.refresh_from_db()
    assert bounce.inactive is False
    assert post_email(api, tenant, "hard@example.org").json()["ErrorCode"] == 0
    assert post_email(api, tenant, "angry@example.org").json()["ErrorCode"] == 406


def test_a_spam_complaint_bounce_cannot_be_activated(api, tenant):
    message = send(tenant, to="angry@example.org")
    complaint = bounce_record(
        server=tenant.server,
        message=message,
        email="angry@example.org",
        bounce_type="SpamComplaint",
    )
    response = api.send_json(
        "PUT", f"/bounces/{complaint.id}/activate", None, **tenant.server_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1003


@pytest.mark.parametrize("path", ["suppressions", "suppressions/delete"])
def test_more_than_50_addresses_is_error_1410(api, tenant, path):
    items = [{"EmailAddress": f"u{i}@example.org"} for i in range(51)]
    response = api.send_json(
        "POST",
        f"/message-streams/outbound/{path}",
        {"Suppressions": items},
        **tenant.server_headers,
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1410
    assert Suppression.objects.count() == 0


@pytest.mark.parametrize("body", [None, [], {"Suppressions": "x"}, {"Other": []}])
def test_a_malformed_body_is_error_1409(api, tenant, body):
    response = api.send_json(
        "POST", "/message-streams/outbound/suppressions", body, **tenant.server_headers
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1409


def test_an_unknown_stream_is_not_found(api, tenant):
    response = api.send_json(
        "GET", "/message-streams/nope/suppressions/dump", **tenant.server_headers
    )
    assert response.status_code == 404
    assert response.json()["ErrorCode"] == 1226


def test_another_tenant_gets_404_or_nothing_on_every_suppression_endpoint(
    api, tenant, other_tenant
):
    bounce = hard_bounce(tenant, "hard@example.org")
    response = api.send_json(
        "PUT", f"/bounces/{bounce.id}/activate", {}, **other_tenant.server_headers
    )
    assert response.status_code == 404 and response.json()["ErrorCode"] == 1001
    bounce.refresh_from_db()
    assert bounce.inactive is True
    # Same stream name, other server: their own (empty) list, never ours.
    dump = api.send_json(
        "GET",
        "/message-streams/outbound/suppressions/dump",
        **other_tenant.server_headers,
    ).json()
    assert dump == {"Suppressions": []}
    api.send_json(
        "POST",
        "/message-streams/outbound/suppressions/delete",
        {"Suppressions": [{"EmailAddress": "hard@example.org"}]},
        **other_tenant.server_headers,
    )
    assert Suppression.objects.filter(server=tenant.server).count() == 1
    # A stream only the first tenant has is not found for the other.
    from accounts.models import MessageStream

    MessageStream.objects.create(
        server=tenant.server,
        stream_id="private",
        name="Private",
        stream_type="Transactional",
    )
    for method, path in (
        ("GET", "/message-streams/private/suppressions/dump"),
        ("POST", "/message-streams/private/suppressions"),
        ("POST", "/message-streams/private/suppressions/delete"),
    ):
        response = api.send_json(
            method,
            path,
            {"Suppressions": [{"EmailAddress": "x@example.org"}]}
            if method == "POST"
            else None,
            **other_tenant.server_headers,
        )
        assert response.status_code == 404, path
        assert response.json()["ErrorCode"] == 1226


def test_a_suppressed_recipient_leaves_no_trace_of_the_first_attempt(
    api, tenant, settings, tmp_path
):
    """A single send checks suppressions together with its writes and redoes
    the transaction when one applies: the redo must leave exactly what one
    careful attempt would (counters, rows, archived objects)."""
    import os

    from django.core.files.storage import storages

    from bounces.models import DailyStat

    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    hard_bounce(tenant, "dead@example.org")
    sent_before = sum(
        DailyStat.objects.filter(
            server=tenant.server, name="Sent", tag_key=""
        ).values_list("value", flat=True)
    )
    refused = post_email(api, tenant, "dead@example.org")
    partial = post_email(api, tenant, "alive@example.org, dead@example.org")
    clean = post_email(api, tenant, "other@example.org")
    assert refused.json()["ErrorCode"] == 406
    assert partial.json()["ErrorCode"] == 0 and clean.json()["ErrorCode"] == 0
    sent_after = sum(
        DailyStat.objects.filter(
            server=tenant.server, name="Sent", tag_key=""
        ).values_list("value", flat=True)
    )
    assert sent_after - sent_before == 2  # alive@ and other@ only
    stored = Message.objects.filter(
        message_id__in=[partial.json()["MessageID"], clean.json()["MessageID"]]
    )
    assert stored.count() == 2
    # The refused attempt's object is gone and the redone one was not stored
    # twice (a second save would have got a suffixed name).
    root = storages["archive"].location
    prefix = os.path.join(root, "messages", str(tenant.server.id))
    archived = {
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _dirs, names in os.walk(prefix)
        for name in names
    }
    assert archived == {
        m.archive_key for m in Message.objects.filter(server=tenant.server)
    }
