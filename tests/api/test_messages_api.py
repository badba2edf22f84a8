from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from messages.models import Message, MessageEvent
from tests.archive_s3 import s3_archive  # noqa: F401  (fixture)
from tests.messages.archive_factories import NOW, add_event, make_message

pytestmark = pytest.mark.django_db


def send(api, tenant, **overrides):
    body = {
        "From": f"Acme Support <{tenant.sender}>",
        "To": "Alice Example <alice@example.org>, bob@example.org",
        "Cc": "carol@example.org",
        "Subject": "Your receipt",
        "TextBody": "Thanks for your order",
        "HtmlBody": "<p>Thanks for your <b>order</b></p>",
        "Tag": "receipt",
        "Metadata": {"order": "1234", "color": "blue"},
    }
    body.update(overrides)
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert response.status_code == 200, response.content
    return response.json()["MessageID"]


def get(api, tenant, path, **params):
    return api.get(path, params, **tenant.server_headers)


def listing(api, tenant, **params):
    params = {"count": 50, "offset": 0, **params}
    response = get(api, tenant, "/messages/outbound", **params)
    assert response.status_code == 200, response.content
    return response.json()


def ids(body):
    return [m["Subject"] for m in body["Messages"]]


# --- list -----------------------------------------------------------------------


def test_it_lists_a_sent_message_in_postmarks_shape(api, tenant):
    message_id = send(api, tenant)
    body = listing(api, tenant)
    assert body["TotalCount"] == 1
    [item] = body["Messages"]
    assert item["MessageID"] == message_id
    assert item["To"] == [
        {"Email": "alice@example.org", "Name": "Alice Example"},
        {"Email": "bob@example.org", "Name": ""},
    ]
    assert item["Cc"] == [{"Email": "carol@example.org", "Name": ""}]
    assert item["Bcc"] == []
    assert item["Recipients"] == [
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
    ]
    assert item["From"] == f"Acme Support <{tenant.sender}>"
    assert item["Subject"] == "Your receipt"
    assert item["Tag"] == "receipt"
    assert item["Status"] == "Queued"
    assert item["MessageStream"] == "outbound"
    assert item["Metadata"] == {"order": "1234", "color": "blue"}
    assert item["Attachments"] == []
    assert item["TrackOpens"] is False
    assert item["TrackLinks"] == "None"
    assert item["Sandboxed"] is False
    assert datetime.fromisoformat(item["ReceivedAt"]).tzinfo is not None


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"count": 10},
        {"offset": 0},
        {"count": 0, "offset": 0},
        {"count": 501, "offset": 0},
        {"count": "ten", "offset": 0},
        {"count": 10, "offset": -1},
        {"count": 500, "offset": 9501},
        {"count": 10, "offset": 0, "status": "delivered"},
        {"count": 10, "offset": 0, "fromdate": "yesterday"},
        {"count": 10, "offset": 0, "todate": "2026-13-01"},
    ],
)
def test_it_rejects_bad_paging_and_filters_with_error_700(api, tenant, params):
    response = get(api, tenant, "/messages/outbound", **params)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 700


def test_it_allows_paging_up_to_ten_thousand(api, tenant):
    body = listing(api, tenant, count=500, offset=9500)
    assert body == {"TotalCount": 0, "Messages": []}


def test_it_applies_every_query_filter(api, tenant):
    s = tenant.server
    make_message(s, subject="a", to="alice@example.org", tag="welcome")
    make_message(
        s,
        subject="b",
        to="bob@example.org",
        tag="invoice",
        from_email="billing@acme.example.com",
        metadata={"customer": "c-7"},
        received_at=NOW - timedelta(hours=1),
    )
    make_message(
        s,
        subject="c quarterly",
        to="bob@example.org",
        tag="invoice",
        status=Message.Status.QUEUED,
        received_at=NOW - timedelta(hours=2),
    )
    make_message(s, subject="d", stream="broadcast", received_at=NOW)
    assert ids(listing(api, tenant, recipient="BOB@example.org")) == [
        "b",
        "c quarterly",
    ]
    assert ids(listing(api, tenant, fromemail="billing@")) == ["b"]
    assert ids(listing(api, tenant, tag="invoice")) == ["b", "c quarterly"]
    assert ids(listing(api, tenant, status="queued")) == ["c quarterly"]
    assert ids(listing(api, tenant, status="sent")) == ["a", "b"]
    assert ids(listing(api, tenant, subject="Quarterly")) == ["c quarterly"]
    assert ids(listing(api, tenant, metadata_customer="c-7")) == ["b"]
    assert ids(listing(api, tenant, messagestream="broadcast")) == ["d"]
    # Combined, with Postmark's mixed-case keys as postmark.js sends them.
    assert ids(listing(api, tenant, Tag="invoice", Status="processed")) == ["b"]
    assert ids(listing(api, tenant, recipient="bob", metadata_customer="c-9")) == []


def test_dates_are_read_as_us_eastern_and_inclusive(api, tenant):
    # 04:30 UTC on Nov 23 is 23:30 on Nov 22 in New York (EST, UTC-5).
    make_message(
        tenant.server,
        subject="late",
        received_at=datetime(2026, 11, 23, 4, 30, tzinfo=UTC),
    )
    make_message(
        tenant.server,
        subject="early",
        received_at=datetime(2026, 11, 23, 5, 0, tzinfo=UTC),
    )
    assert ids(listing(api, tenant, todate="2026-11-22")) == ["late"]
    assert ids(listing(api, tenant, fromdate="2026-11-23")) == ["early"]
    assert ids(listing(api, tenant, fromdate="2026-11-22", todate="2026-11-23")) == [
        "early",
        "late",
    ]
    # A time is inclusive to the second: 00:00:00 Eastern is 05:00:00 UTC.
    assert ids(listing(api, tenant, todate="2026-11-23T00:00:00")) == ["early", "late"]
    assert ids(listing(api, tenant, fromdate="2026-11-22T23:30:01")) == ["early"]


def test_eastern_dates_follow_daylight_saving_time(api, tenant):
    # July: New York is UTC-4, so local midnight is 04:00 UTC.
    make_message(
        tenant.server,
        subject="summer",
        received_at=datetime(2026, 7, 1, 3, 59, tzinfo=UTC),
    )
    assert ids(listing(api, tenant, todate="2026-06-30")) == ["summer"]
    assert ids(listing(api, tenant, fromdate="2026-07-01")) == []


def test_it_pages_with_a_stable_total(api, tenant):
    for index in range(5):
        make_message(
            tenant.server,
            subject=f"m{index}",
            received_at=NOW - timedelta(minutes=index),
        )
    first = listing(api, tenant, count=2, offset=0)
    last = listing(api, tenant, count=2, offset=4)
    assert (first["TotalCount"], ids(first)) == (5, ["m0", "m1"])
    assert (last["TotalCount"], ids(last)) == (5, ["m4"])


def test_the_list_costs_a_fixed_number_of_queries(
    api, tenant, django_assert_num_queries, settings
):
    # Without the count's time budget (which adds a constant set_config and,
    # inside the test transaction, a savepoint).
    settings.ARCHIVE_COUNT_BUDGET_MS = 0
    for index in range(30):
        make_message(tenant.server, subject=f"m{index}", to="a@x.org, b@x.org")
    # token lookup, page, capped count: no query per message
    with django_assert_num_queries(3):
        body = listing(api, tenant, count=10)
    assert body["TotalCount"] == 30


def test_other_tenant_gets_nothing_from_the_list(api, tenant, other_tenant):
    send(api, tenant)
    assert listing(api, other_tenant) == {"TotalCount": 0, "Messages": []}


def test_it_requires_a_server_token(api, tenant):
    response = api.get("/messages/outbound", {"count": 1, "offset": 0})
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10


# --- details ----------------------------------------------------------------------


def test_details_show_bodies_raw_mime_and_the_event_timeline(api, tenant):
    message_id = send(api, tenant)
    message = Message.objects.get(message_id=message_id)
    add_event(
        message,
        MessageEvent.Type.DELIVERED,
        NOW,
        DeliveryMessage="250 2.0.0 OK",
        DestinationServer="mx.example.org",
        DestinationIP="192.0.2.1",
    )
    add_event(
        message, MessageEvent.Type.OPENED, NOW + timedelta(minutes=5), Summary="Opened"
    )
    response = get(api, tenant, f"/messages/outbound/{message_id}/details")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["MessageID"] == message_id
    assert body["Subject"] == "Your receipt"
    assert body["TextBody"].strip() == "Thanks for your order"
    assert body["HtmlBody"].strip() == "<p>Thanks for your <b>order</b></p>"
    assert "Subject: Your receipt" in body["Body"]
    assert f"X-PM-Message-Id: {message_id}" in body["Body"]
    assert [e["Type"] for e in body["MessageEvents"]] == ["Delivered", "Opened"]
    delivered = body["MessageEvents"][0]
    assert delivered["Recipient"] == "alice@example.org"
    assert delivered["Details"]["DestinationServer"] == "mx.example.org"
    assert delivered["ReceivedAt"].startswith("2026-11-23T12:00:00")


def test_details_of_an_unknown_message_is_error_701(api, tenant):
    for message_id in ("3f7e8f5a-0000-4000-8000-000000000000", "not-a-uuid"):
        response = get(api, tenant, f"/messages/outbound/{message_id}/details")
        assert response.status_code == 422
        assert response.json() == {
            "ErrorCode": 701,
            "Message": "This message was not found.",
        }


def test_other_tenant_gets_701_for_details_and_dump(api, tenant, other_tenant):
    message_id = send(api, tenant)
    for suffix in ("details", "dump"):
        response = get(api, other_tenant, f"/messages/outbound/{message_id}/{suffix}")
        assert response.status_code == 422
        assert response.json()["ErrorCode"] == 701


# --- dump -------------------------------------------------------------------------


def test_dump_returns_the_raw_mime_from_local_storage(api, tenant):
    message_id = send(api, tenant)
    response = get(api, tenant, f"/messages/outbound/{message_id}/dump")
    assert response.status_code == 200
    raw = response.json()["Body"]
    assert raw.startswith("From: ") or "\r\nFrom: " in raw
    assert "Thanks for your order" in raw
    assert f"X-PM-Message-Id: {message_id}" in raw


def test_dump_returns_the_raw_mime_from_s3(api, tenant, s3_archive):  # noqa: F811
    message_id = send(api, tenant)
    message = Message.objects.get(message_id=message_id)
    stored = [o.key for o in s3_archive.objects.all()]
    assert stored == [f"archive/{message.archive_key}"]
    response = get(api, tenant, f"/messages/outbound/{message_id}/dump")
    assert response.status_code == 200
    assert "Subject: Your receipt" in response.json()["Body"]
    details = get(api, tenant, f"/messages/outbound/{message_id}/details").json()
    assert details["TextBody"].strip() == "Thanks for your order"


def test_dump_is_empty_once_the_object_is_gone(api, tenant, s3_archive):  # noqa: F811
    message_id = send(api, tenant)
    for obj in s3_archive.objects.all():
        obj.delete()
    assert get(api, tenant, f"/messages/outbound/{message_id}/dump").json() == {
        "Body": ""
    }


def test_a_content_free_server_answers_empty_bodies(api, tenant):
    tenant.server.store_content = False
    tenant.server.save(update_fields=["store_content"])
    message_id = send(api, tenant)
    message = Message.objects.get(message_id=message_id)
    # Delivery still needs the MIME, so it exists, but it is never shown.
    assert message.archive_key.startswith("transient/")
    details = get(api, tenant, f"/messages/outbound/{message_id}/details").json()
    assert (details["TextBody"], details["HtmlBody"], details["Body"]) == ("", "", "")
    assert details["Subject"] == "Your receipt"  # metadata is still there
    dump = get(api, tenant, f"/messages/outbound/{message_id}/dump").json()
    assert dump == {"Body": ""}
