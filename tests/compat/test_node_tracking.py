"""The official Postmark Node.js client, unmodified, reading opens, clicks and
tracking statistics from the live server after a reader opened a tracked copy
and clicked its links over HTTP."""

from __future__ import annotations

import pytest
import requests
from django.utils import timezone

from messages.models import Message
from tests.tracking.helpers import CHROME_MAC, IPHONE, buffer_clear, copy_urls, drain

pytestmark = pytest.mark.slow


@pytest.fixture
def opened(node_client, live_tenant, live_server, settings):
    """bob reads on an iPhone, clicks the HTML link, then the text link on a Mac."""
    buffer_clear()
    settings.TRACKING_BASE_URL = live_server.url
    client = node_client(live_tenant.server_token)
    sent = client.call(
        "sendEmail",
        {
            "From": live_tenant.sender,
            "To": "bob@example.org",
            "Subject": "Tracked from Node",
            "HtmlBody": '<p><a href="https://shop.example.com/a">A</a></p>',
            "TextBody": "See https://shop.example.com/b",
            "TrackOpens": True,
            "TrackLinks": "HtmlAndText",
            "Tag": "node",
        },
    )
    message = Message.objects.get(message_id=sent["MessageID"])
    pixel, html_links, text_links = copy_urls(message.recipients.get())
    with requests.Session() as http:
        assert http.get(pixel, headers={"User-Agent": IPHONE}).status_code == 200
        for url, agent in ((html_links[0], IPHONE), (text_links[0], CHROME_MAC)):
            answer = http.get(url, headers={"User-Agent": agent}, allow_redirects=False)
            assert answer.status_code == 302
    drain()
    return client, message


def test_node_client_lists_opens_and_clicks(opened):
    client, message = opened
    mid = str(message.message_id)
    opens = client.call("getMessageOpens", {"count": 10, "offset": 0})
    assert opens["TotalCount"] == 1
    assert opens["Opens"][0]["MessageID"] == mid
    assert opens["Opens"][0]["Platform"] == "Mobile"
    assert opens["Opens"][0]["OS"]["Family"] == "iOS"
    filtered = client.call(
        "getMessageOpens", {"count": 10, "offset": 0, "os_family": "Windows"}
    )
    assert filtered == {"TotalCount": 0, "Opens": []}
    single = client.call("getMessageOpensForSingleMessage", mid, {"count": 5})
    assert single["Opens"][0]["Recipient"] == "bob@example.org"
    clicks = client.call("getMessageClicks", {"count": 10, "offset": 0})
    assert sorted(c["OriginalLink"] for c in clicks["Clicks"]) == [
        "https://shop.example.com/a",
        "https://shop.example.com/b",
    ]
    one = client.call("getMessageClicksForSingleMessage", mid, {"count": 10})
    assert {c["ClickLocation"] for c in one["Clicks"]} == {"HTML", "Text"}


def test_node_client_reads_the_tracking_statistics(opened):
    client, _message = opened
    today = timezone.now().date().isoformat()
    overview = client.call("getOutboundOverview", {})
    assert overview["Opens"] == 1 and overview["UniqueOpens"] == 1
    assert overview["TotalClicks"] == 2 and overview["UniqueLinksClicked"] == 2
    assert client.call("getEmailOpenCounts", {"tag": "node"}) == {
        "Days": [{"Date": today, "Opens": 1, "Unique": 1}],
        "Opens": 1,
        "Unique": 1,
    }
    assert client.call("getEmailOpenPlatformUsage", {})["Mobile"] == 1
    assert client.call("getEmailOpenClientUsage", {})["Apple Mail"] == 1
    assert client.call("getClickCounts", {})["Clicks"] == 2
    browsers = client.call("getClickBrowserUsage", {})
    assert (browsers["Apple Mail"], browsers["Chrome"]) == (1, 1)
    platforms = client.call("getClickPlatformUsage", {})
    assert (platforms["Mobile"], platforms["Desktop"]) == (1, 1)
    location = client.call("getClickLocation", {})
    assert (location["HTML"], location["Text"]) == (1, 1)
    assert client.call("getTrackedEmailCounts", {})["Tracked"] == 0


def test_another_tenant_gets_nothing_and_701_for_the_message(
    opened, node_client, live_other_tenant
):
    _client, message = opened
    other = node_client(live_other_tenant.server_token)
    assert other.call("getMessageOpens", {"count": 10, "offset": 0})["TotalCount"] == 0
    assert other.call("getOutboundOverview", {})["TotalClicks"] == 0
    from .conftest import NodeClientError

    with pytest.raises(NodeClientError) as caught:
        other.call("getMessageClicksForSingleMessage", str(message.message_id), {})
    assert (caught.value.code, caught.value.status_code) == (701, 422)
