"""GET /messages/outbound/opens|clicks[/{id}] and the tracking statistics."""

from __future__ import annotations

import pytest
from django.utils import timezone

from .helpers import CHROME_MAC, GMAIL, IPHONE, drain, send_tracked

pytestmark = pytest.mark.django_db


@pytest.fixture
def activity(api, tenant, hit):
    """Two messages: alice opened with Gmail and iPhone and clicked twice; bob
    (tag "other") opened on a Mac."""
    first = send_tracked(api, tenant, To="alice@example.org")
    second = send_tracked(api, tenant, To="bob@example.org", Tag="other")
    alice = first.recipients.get()
    bob = second.recipients.get()
    hit(alice, ua=GMAIL)
    hit(alice, ua=IPHONE)
    hit(bob, ua=CHROME_MAC)
    hit(alice, url="https://shop.example.com/sale?a=1&b=2", ua=IPHONE)
    hit(alice, url="https://shop.example.com/sale?a=1&b=2", ua=IPHONE)
    hit(alice, url="https://shop.example.com/text", ua=IPHONE, text=True)
    drain()
    return first, second


def get(api, tenant, path, **params):
    return api.get(path, params, **tenant.server_headers)


def test_the_opens_list_has_postmarks_shape(api, tenant, activity):
    first, second = activity
    body = get(api, tenant, "/messages/outbound/opens", count=10, offset=0).json()
    assert body["TotalCount"] == 2
    newest, oldest = body["Opens"]
    assert newest["Recipient"] == "bob@example.org"
    assert oldest == {
        "RecordType": "Open",
        "FirstOpen": True,
        "Client": {"Name": "Gmail", "Company": "Google", "Family": "Gmail"},
        "OS": {"Name": "", "Company": "", "Family": ""},
        "Platform": "WebMail",
        "UserAgent": GMAIL,
        "ReadSeconds": 0,
        "Geo": {"IP": "127.0.0.1"},
        "MessageID": str(first.message_id),
        "MessageStream": "outbound",
        "Tag": "spring",
        "Recipient": "alice@example.org",
        "ReceivedAt": oldest["ReceivedAt"],
    }
    assert oldest["ReceivedAt"].startswith(timezone.now().date().isoformat())


@pytest.mark.parametrize(
    ("params", "recipients"),
    [
        ({"recipient": "alice"}, ["alice@example.org"]),
        ({"tag": "other"}, ["bob@example.org"]),
        ({"platform": "desktop"}, ["bob@example.org"]),
        ({"client_name": "Gmail"}, ["alice@example.org"]),
        ({"clientFamily": "gmail"}, ["alice@example.org"]),
        ({"os_family": "Mac OS X"}, ["bob@example.org"]),
        ({"messagestream": "outbound"}, ["bob@example.org", "alice@example.org"]),
        ({"country": "France"}, []),
    ],
)
def test_opens_can_be_filtered(api, tenant, activity, params, recipients):
    body = get(
        api, tenant, "/messages/outbound/opens", count=10, offset=0, **params
    ).json()
    assert [o["Recipient"] for o in body["Opens"]] == recipients
    assert body["TotalCount"] == len(recipients)


def test_the_clicks_list_and_one_messages_clicks(api, tenant, activity):
    first, second = activity
    body = get(api, tenant, "/messages/outbound/clicks", count=10, offset=0).json()
    assert body["TotalCount"] == 2
    locations = sorted(c["ClickLocation"] for c in body["Clicks"])
    assert locations == ["HTML", "Text"]
    click = body["Clicks"][1]
    assert click["RecordType"] == "Click"
    assert click["OriginalLink"] == "https://shop.example.com/sale?a=1&b=2"
    assert click["Platform"] == "Mobile"
    assert "FirstOpen" not in click and "ReadSeconds" not in click
    path = f"/messages/outbound/clicks/{first.message_id}"
    assert get(api, tenant, path, count=10, offset=0).json()["TotalCount"] == 2
    path = f"/messages/outbound/clicks/{second.message_id}"
    assert get(api, tenant, path, count=10, offset=0).json() == {
        "TotalCount": 0,
        "Clicks": [],
    }


def test_one_messages_opens(api, tenant, activity):
    first, _second = activity
    path = f"/messages/outbound/opens/{first.message_id}"
    body = get(api, tenant, path, count=1, offset=0).json()
    assert body["TotalCount"] == 1
    assert body["Opens"][0]["Recipient"] == "alice@example.org"


def test_paging_is_required_and_bounded(api, tenant, activity):
    response = get(api, tenant, "/messages/outbound/opens")
    assert response.status_code == 422 and response.json()["ErrorCode"] == 700
    response = get(api, tenant, "/messages/outbound/clicks", count=501, offset=0)
    assert response.json()["ErrorCode"] == 700
    page = get(api, tenant, "/messages/outbound/opens", count=1, offset=1).json()
    assert page["TotalCount"] == 2 and len(page["Opens"]) == 1


def test_another_tenant_sees_nothing(api, tenant, other_tenant, activity):
    first, _ = activity
    for path in ("/messages/outbound/opens", "/messages/outbound/clicks"):
        body = get(api, other_tenant, path, count=10, offset=0).json()
        assert body["TotalCount"] == 0
    for path in (
        f"/messages/outbound/opens/{first.message_id}",
        f"/messages/outbound/clicks/{first.message_id}",
    ):
        response = get(api, other_tenant, path, count=10, offset=0)
        assert response.status_code == 422
        assert response.json()["ErrorCode"] == 701
    stats = get(api, other_tenant, "/stats/outbound").json()
    assert stats["Opens"] == 0 and stats["TotalClicks"] == 0


def test_the_statistics_count_opens_and_clicks(api, tenant, activity):
    today = timezone.now().date().isoformat()
    overview = get(api, tenant, "/stats/outbound").json()
    assert overview["Opens"] == 3
    assert overview["UniqueOpens"] == 2
    assert overview["TotalClicks"] == 3
    assert overview["UniqueLinksClicked"] == 2
    assert overview["WithClientRecorded"] == 2
    assert overview["WithPlatformRecorded"] == 2
    platforms = get(api, tenant, "/stats/outbound/opens/platforms").json()
    assert platforms == {
        "Days": [{"Date": today, "Desktop": 1, "WebMail": 1}],
        "Desktop": 1,
        "Mobile": 0,
        "Unknown": 0,
        "WebMail": 1,
    }
    clients = get(api, tenant, "/stats/outbound/opens/emailclients").json()
    assert clients["Gmail"] == 1 and clients["Chrome 120"] == 1
    browsers = get(api, tenant, "/stats/outbound/clicks/browserfamilies").json()
    assert browsers == {
        "Days": [{"Date": today, "Apple Mail": 3}],
        "Apple Mail": 3,
    }
    location = get(api, tenant, "/stats/outbound/clicks/location").json()
    assert (location["HTML"], location["Text"]) == (2, 1)
    click_platforms = get(api, tenant, "/stats/outbound/clicks/platforms").json()
    assert click_platforms["Mobile"] == 3
    tagged = get(api, tenant, "/stats/outbound/opens", tag="other").json()
    assert (tagged["Opens"], tagged["Unique"]) == (1, 1)
    readtimes = get(api, tenant, "/stats/outbound/opens/readtimes").json()
    assert readtimes["unknown"] == 2


def test_list_queries_do_not_grow_with_the_page(
    api, tenant, activity, django_assert_max_num_queries
):
    api.get(
        "/messages/outbound/opens", {"count": 1, "offset": 0}, **tenant.server_headers
    )
    with django_assert_max_num_queries(4):  # token, count, page (message joined)
        body = get(api, tenant, "/messages/outbound/opens", count=50, offset=0).json()
    assert body["TotalCount"] == 2
    with django_assert_max_num_queries(4):
        body = get(api, tenant, "/messages/outbound/clicks", count=50, offset=0).json()
    assert body["TotalCount"] == 2
