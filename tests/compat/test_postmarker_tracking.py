"""Unmodified postmarker reading opens and tracking statistics from the live
server, after a reader opened a tracked copy and clicked its links over HTTP."""

from __future__ import annotations

import pytest
import requests
from django.utils import timezone
from postmarker.core import PostmarkClient

from messages.models import Message
from tests.tracking.helpers import CHROME_MAC, GMAIL, buffer_clear, copy_urls, drain

pytestmark = pytest.mark.slow


@pytest.fixture
def client(live_server, live_tenant, settings):
    buffer_clear()
    settings.TRACKING_BASE_URL = live_server.url
    made = PostmarkClient(
        server_token=live_tenant.server_token, root_api_url=live_server.url
    )
    yield made
    made.session.close()


@pytest.fixture
def opened(client, live_tenant):
    """alice reads in Gmail and clicks the HTML link twice and the text link."""
    response = client.emails.send(
        From=live_tenant.sender,
        To="alice@example.org",
        Subject="Spring sale",
        HtmlBody='<p>Hi <a href="https://shop.example.com/sale">Sale</a></p>',
        TextBody="Hi https://shop.example.com/text",
        TrackOpens=True,
        TrackLinks="HtmlAndText",
        Tag="spring",
    )
    message = Message.objects.get(message_id=response["MessageID"])
    pixel, html_links, text_links = copy_urls(message.recipients.get())
    with requests.Session() as http:
        assert http.get(pixel, headers={"User-Agent": GMAIL}).status_code == 200
        for url in (html_links[0], html_links[0], text_links[0]):
            answer = http.get(
                url, headers={"User-Agent": CHROME_MAC}, allow_redirects=False
            )
            assert answer.status_code == 302
    drain()
    return message


def test_postmarker_lists_opens_and_one_messages_opens(client, opened):
    opens = client.messages.outbound.opens.all(count=10)
    assert len(opens) == 1
    first = opens[0]
    assert str(first) == "Open from alice@example.org"
    assert first.MessageID == str(opened.message_id)
    assert first.Client["Name"] == "Gmail"
    assert first.Platform == "WebMail"
    assert first.FirstOpen is True
    assert first.message.Subject == "Spring sale"
    one = client.messages.outbound.opens.get(str(opened.message_id))
    assert one["TotalCount"] == 1
    outbound = client.messages.outbound.get(str(opened.message_id))
    assert outbound.opens()["Opens"][0]["Recipient"] == "alice@example.org"
    filtered = client.messages.outbound.opens.all(count=10, platform="Desktop")
    assert filtered == []
    assert len(client.messages.outbound.opens.all(count=10, tag="spring")) == 1


def test_postmarker_reads_the_tracking_statistics(client, opened):
    today = timezone.now().date().isoformat()
    stats = client.stats
    overview = stats.overview()
    assert (overview["Opens"], overview["UniqueOpens"]) == (1, 1)
    assert (overview["TotalClicks"], overview["UniqueLinksClicked"]) == (3, 2)
    assert stats.opens() == {
        "Days": [{"Date": today, "Opens": 1, "Unique": 1}],
        "Opens": 1,
        "Unique": 1,
    }
    assert stats.opens_platforms()["WebMail"] == 1
    assert stats.emailclients()["Gmail"] == 1
    assert stats.readtimes()["unknown"] == 1
    assert (stats.clicks()["Clicks"], stats.clicks()["Unique"]) == (3, 2)
    assert stats.browserfamilies()["Chrome"] == 3
    assert stats.clicks_platforms()["Desktop"] == 3
    location = stats.location()
    assert (location["HTML"], location["Text"]) == (2, 1)
    assert stats.tracked()["Tracked"] == 0  # counted at delivery; none ran here
    assert stats.opens(tag="nope")["Opens"] == 0


def test_another_tenant_sees_none_of_it(make_other_client, opened):
    other = make_other_client()
    assert other.messages.outbound.opens.all(count=10) == []
    assert other.stats.overview()["Opens"] == 0


@pytest.fixture
def make_other_client(live_server, live_other_tenant):
    made: list[PostmarkClient] = []

    def build() -> PostmarkClient:
        made.append(
            PostmarkClient(
                server_token=live_other_tenant.server_token,
                root_api_url=live_server.url,
            )
        )
        return made[-1]

    yield build
    for item in made:
        item.session.close()
