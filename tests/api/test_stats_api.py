from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from bounces.stats import stats_record

pytestmark = pytest.mark.django_db

D1 = date(2026, 11, 20)
D2 = date(2026, 11, 21)


def record(tenant, day, counts, *, stream="outbound", tag=""):
    stats_record(
        server_id=tenant.server.id,
        message_stream=stream,
        tag=tag,
        day=day,
        counts=counts,
    )


def get(api, tenant, path, **params):
    response = api.get(path, params, **tenant.server_headers)
    return response


def send(api, tenant, **overrides):
    body = {
        "From": tenant.sender,
        "To": "alice@example.org, bob@example.org",
        "Subject": "Hi",
        "TextBody": "Hello",
    }
    body.update(overrides)
    response = api.send_json("POST", "/email", body, **tenant.server_headers)
    assert response.status_code == 200, response.content
    return response.json()


def test_sends_count_each_recipient_of_a_submitted_message(api, tenant):
    send(api, tenant, Tag="welcome")
    send(api, tenant, To="carol@example.org")
    today = timezone.now().date().isoformat()

    body = get(api, tenant, "/stats/outbound/sends").json()
    assert body == {"Days": [{"Date": today, "Sent": 3}], "Sent": 3}

    tagged = get(api, tenant, "/stats/outbound/sends", tag="welcome").json()
    assert tagged == {"Days": [{"Date": today, "Sent": 2}], "Sent": 2}


def test_a_batch_counts_every_message_once_per_recipient(api, tenant):
    items = [
        {"From": tenant.sender, "To": f"u{i}@example.org", "TextBody": "x", "Tag": t}
        for i, t in enumerate(["a", "a", "b", ""])
    ]
    response = api.send_json("POST", "/email/batch", items, **tenant.server_headers)
    assert response.status_code == 200
    assert get(api, tenant, "/stats/outbound/sends").json()["Sent"] == 4
    assert get(api, tenant, "/stats/outbound/sends", tag="a").json()["Sent"] == 2
    assert get(api, tenant, "/stats/outbound/sends", tag="b").json()["Sent"] == 1


def test_bounce_stats_list_days_with_only_their_non_zero_types(api, tenant):
    record(tenant, D1, {"Bounced": 2, "HardBounce": 2})
    record(tenant, D2, {"Bounced": 1, "SoftBounce": 1})
    record(tenant, D2, {"Transient": 1})
    record(tenant, D2, {"SMTPApiErrors": 1, "SMTPApiError": 1})

    body = get(api, tenant, "/stats/outbound/bounces").json()
    assert body == {
        "Days": [
            {"Date": "2026-11-20", "HardBounce": 2},
            {"Date": "2026-11-21", "SoftBounce": 1, "Transient": 1, "SMTPApiError": 1},
        ],
        "HardBounce": 2,
        "SMTPApiError": 1,
        "SoftBounce": 1,
        "Transient": 1,
    }


def test_spam_stats_per_day(api, tenant):
    record(tenant, D2, {"SpamComplaint": 1, "SpamComplaints": 1})
    body = get(api, tenant, "/stats/outbound/spam").json()
    assert body == {
        "Days": [{"Date": "2026-11-21", "SpamComplaint": 1}],
        "SpamComplaint": 1,
    }


def test_overview_has_totals_rates_and_zero_tracking_keys(api, tenant):
    record(tenant, D1, {"Sent": 200})
    record(tenant, D1, {"Bounced": 3, "HardBounce": 3})
    record(tenant, D2, {"SMTPApiErrors": 2})
    record(tenant, D2, {"SpamComplaint": 1})

    body = get(api, tenant, "/stats/outbound").json()
    assert body["Sent"] == 200
    assert body["Bounced"] == 3
    assert body["SMTPApiErrors"] == 2
    assert body["BounceRate"] == 1.5
    assert body["SpamComplaints"] == 1
    assert body["SpamComplaintsRate"] == 0.5
    assert body["Opens"] == 0 and body["TotalClicks"] == 0 and body["Tracked"] == 0
    assert "Days" not in body


def test_overview_without_sends_has_zero_rates(api, tenant):
    body = get(api, tenant, "/stats/outbound").json()
    assert body["Sent"] == 0
    assert body["BounceRate"] == 0.0


def test_date_range_is_inclusive_and_accepts_datetimes(api, tenant):
    record(tenant, D1, {"Sent": 1})
    record(tenant, D2, {"Sent": 10})
    record(tenant, D2 + timedelta(days=1), {"Sent": 100})

    body = get(
        api, tenant, "/stats/outbound/sends", fromdate="2026-11-21", todate="2026-11-21"
    ).json()
    assert body == {"Days": [{"Date": "2026-11-21", "Sent": 10}], "Sent": 10}
    # Postmark clients also send YYYY-MM-DDTHH:MM:SS and camelCase keys.
    body = get(api, tenant, "/stats/outbound/sends", fromDate="2026-11-21T00:00:00")
    assert body.json()["Sent"] == 110


def test_a_bad_date_is_error_900(api, tenant):
    response = get(api, tenant, "/stats/outbound/sends", fromdate="yesterday")
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 900
    response = get(api, tenant, "/stats/outbound", todate="2026-02-30")
    assert response.json()["ErrorCode"] == 900


def test_fromdate_after_todate_is_error_1502(api, tenant):
    response = get(
        api, tenant, "/stats/outbound/sends", fromdate="2026-11-21", todate="2026-11-20"
    )
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1502


def test_stream_filter_and_default_of_all_streams(api, tenant):
    record(tenant, D1, {"Sent": 5}, stream="outbound")
    record(tenant, D1, {"Sent": 7}, stream="broadcast", tag="news")

    assert get(api, tenant, "/stats/outbound/sends").json()["Sent"] == 12
    only = get(api, tenant, "/stats/outbound/sends", messagestream="broadcast").json()
    assert only["Sent"] == 7
    both = get(
        api, tenant, "/stats/outbound/sends", messagestream="outbound", tag="news"
    ).json()
    assert both == {"Days": [], "Sent": 0}


def test_an_unknown_stream_is_error_1226(api, tenant):
    response = get(api, tenant, "/stats/outbound/bounces", messagestream="nope")
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1226


def test_other_tenant_sees_none_of_our_stats_and_not_our_streams(
    api, tenant, other_tenant
):
    record(tenant, D1, {"Sent": 5, "Bounced": 1, "HardBounce": 1})
    from accounts.models import MessageStream

    MessageStream.objects.create(
        server=tenant.server, stream_id="private", name="P", stream_type="Broadcasts"
    )
    assert get(api, other_tenant, "/stats/outbound/sends").json() == {
        "Days": [],
        "Sent": 0,
    }
    assert get(api, other_tenant, "/stats/outbound").json()["Bounced"] == 0
    response = get(api, other_tenant, "/stats/outbound", messagestream="private")
    assert response.json()["ErrorCode"] == 1226


def test_a_long_multibyte_tag_is_counted_and_filterable(api, tenant):
    tag = "ü" * 1000
    record(tenant, D1, {"Sent": 2}, tag=tag)
    body = get(api, tenant, "/stats/outbound/sends", tag=tag).json()
    assert body["Sent"] == 2
    assert get(api, tenant, "/stats/outbound/sends", tag="ü").json()["Sent"] == 0


def test_a_datetime_day_is_bucketed_in_the_stats_time_zone(api, tenant, settings):
    settings.STATS_TIME_ZONE = "America/New_York"
    late = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)  # 22:00 on the 20th
    record(tenant, late, {"Sent": 1})
    assert get(api, tenant, "/stats/outbound/sends").json()["Days"] == [
        {"Date": "2026-11-20", "Sent": 1}
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/stats/outbound/tracked", {"Days": [], "Tracked": 0}),
        ("/stats/outbound/opens", {"Days": [], "Opens": 0, "Unique": 0}),
        (
            "/stats/outbound/opens/platforms",
            {"Days": [], "Desktop": 0, "Mobile": 0, "Unknown": 0, "WebMail": 0},
        ),
        ("/stats/outbound/opens/emailclients", {"Days": []}),
        ("/stats/outbound/opens/readtimes", {"Days": [], "unknown": 0}),
        ("/stats/outbound/clicks", {"Days": [], "Clicks": 0, "Unique": 0}),
        ("/stats/outbound/clicks/browserfamilies", {"Days": []}),
        (
            "/stats/outbound/clicks/platforms",
            {"Days": [], "Desktop": 0, "Mobile": 0, "Unknown": 0},
        ),
        ("/stats/outbound/clicks/location", {"Days": [], "HTML": 0, "Text": 0}),
        # postmark.js spells some paths in camelCase.
        ("/stats/outbound/opens/emailClients", {"Days": []}),
    ],
)
def test_tracking_paths_without_events_answer_valid_empty_shapes(
    api, tenant, path, expected
):
    record(tenant, D1, {"Sent": 5})
    response = get(api, tenant, path)
    assert response.status_code == 200
    assert response.json() == expected
    assert get(api, tenant, path, messagestream="nope").json()["ErrorCode"] == 1226


def test_stats_need_a_server_token(api, tenant):
    response = api.get("/stats/outbound", HTTP_X_POSTMARK_SERVER_TOKEN="nope")
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10


def test_reads_cost_the_same_queries_however_much_was_sent(
    api, tenant, django_assert_num_queries
):
    for offset in range(300):
        day = D1 - timedelta(days=offset)
        record(tenant, day, {"Sent": 1000, "Bounced": 3, "HardBounce": 3}, tag="t")
    # token lookup + one aggregate query
    with django_assert_num_queries(2):
        body = get(api, tenant, "/stats/outbound/sends").json()
    assert body["Sent"] == 300_000 and len(body["Days"]) == 300
    with django_assert_num_queries(2):
        assert get(api, tenant, "/stats/outbound").json()["Bounced"] == 900
    # + the stream existence check
    with django_assert_num_queries(3):
        get(api, tenant, "/stats/outbound/bounces", messagestream="outbound", tag="t")
