"""GET /deliverystats, /bounces, /bounces/{id}, /bounces/{id}/dump, /bounces/tags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bounces.models import Bounce
from bounces.services import bounce_record
from tests.bounces.helpers import send

pytestmark = pytest.mark.django_db


def bounce(tenant, *, to="bob@example.net", bounce_type="HardBounce", **kwargs):
    message = send(tenant, to=to, tag=kwargs.pop("tag", ""))
    return bounce_record(
        server=tenant.server,
        message=message,
        email=to,
        bounce_type=bounce_type,
        diagnostic="550 5.1.1 User unknown",
        **kwargs,
    )


def get(api, tenant, path):
    return api.send_json("GET", path, **tenant.server_headers)


def test_the_list_is_newest_first_with_postmarks_shape(api, tenant):
    first = bounce(tenant, to="a@example.org")
    second = bounce(tenant, to="b@example.org", bounce_type="SoftBounce", tag="t1")
    response = get(api, tenant, "/bounces?count=10&offset=0")
    assert response.status_code == 200
    body = response.json()
    assert body["TotalCount"] == 2
    assert [b["ID"] for b in body["Bounces"]] == [second.id, first.id]
    item = body["Bounces"][0]
    assert item["RecordType"] == "Bounce"
    assert item["Type"] == "SoftBounce" and item["TypeCode"] == 4096
    assert item["Name"] == "Soft bounce"
    assert item["Tag"] == "t1"
    assert item["ServerID"] == tenant.server.id
    assert item["MessageStream"] == "outbound"
    assert item["Inactive"] is False and item["CanActivate"] is True
    assert item["DumpAvailable"] is False
    assert item["MessageID"] == str(second.message_uuid)
    assert item["From"] == f"Acme Support <{tenant.sender}>"
    assert item["Subject"] == "Your receipt"
    assert item["BouncedAt"].endswith("Z")
    assert "Content" not in item


def test_the_list_filters_like_postmark(api, tenant):
    hard = bounce(tenant, to="hard@example.org", tag="welcome")
    soft = bounce(tenant, to="soft@example.org", bounce_type="SoftBounce")
    Bounce.objects.filter(id=soft.id).update(
        bounced_at=timezone.now() - timedelta(days=3)
    )

    def ids(query):
        response = get(api, tenant, f"/bounces?count=50&offset=0&{query}")
        assert response.status_code == 200, response.content
        return [b["ID"] for b in response.json()["Bounces"]]

    assert ids("type=HardBounce") == [hard.id]
    assert ids("inactive=true") == [hard.id]
    assert ids("inactive=false") == [soft.id]
    assert ids("emailFilter=SOFT@") == [soft.id]
    assert ids("tag=welcome") == [hard.id]
    assert ids(f"messageID={soft.message_uuid}") == [soft.id]
    assert ids("messageID=not-a-uuid") == []
    today = timezone.now().date()
    assert ids(f"fromdate={today - timedelta(days=1)}") == [hard.id]
    assert ids(f"todate={today - timedelta(days=2)}") == [soft.id]
    assert ids("messagestream=broadcast") == []
    assert ids("MessageStream=outbound") == [hard.id, soft.id]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "count=10",
        "offset=0",
        "count=501&offset=0",
        "count=0&offset=0",
        "count=10&offset=-1",
        "count=500&offset=9600",
        "count=x&offset=0",
        "count=10&offset=0&type=Nope",
        "count=10&offset=0&inactive=maybe",
        "count=10&offset=0&fromdate=yesterday",
    ],
)
def test_bad_queries_answer_error_1000(api, tenant, query):
    response = get(api, tenant, f"/bounces?{query}")
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 1000


def test_the_list_uses_a_fixed_number_of_queries(
    api, tenant, django_assert_num_queries
):
    for i in range(5):
        bounce(tenant, to=f"user{i}@example.org")
    # token lookup, count, page — however many bounces.
    with django_assert_num_queries(3):
        response = get(api, tenant, "/bounces?count=50&offset=0")
    assert response.json()["TotalCount"] == 5


def test_one_bounce_includes_the_raw_content(api, tenant):
    b = bounce(tenant, raw_report=b"Subject: Undelivered\r\n\r\nreport body")
    response = get(api, tenant, f"/bounces/{b.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["ID"] == b.id and body["DumpAvailable"] is True
    assert body["Content"] == "Subject: Undelivered\r\n\r\nreport body"


def test_the_dump_is_the_archived_report_or_empty(api, tenant):
    with_dump = bounce(tenant, raw_report=b"raw dsn")
    without = bounce(tenant, to="c@example.org")
    assert get(api, tenant, f"/bounces/{with_dump.id}/dump").json() == {
        "Body": "raw dsn"
    }
    assert get(api, tenant, f"/bounces/{without.id}/dump").json() == {"Body": ""}


def test_tags_lists_distinct_bounce_tags(api, tenant):
    bounce(tenant, to="a@example.org", tag="welcome")
    bounce(tenant, to="b@example.org", tag="welcome")
    bounce(tenant, to="c@example.org", tag="receipt")
    bounce(tenant, to="d@example.org")
    assert get(api, tenant, "/bounces/tags").json() == ["receipt", "welcome"]


def test_deliverystats_counts_per_type_and_inactive_addresses(api, tenant):
    bounce(tenant, to="a@example.org")
    bounce(tenant, to="b@example.org")
    bounce(tenant, to="c@example.org", bounce_type="Transient")
    body = get(api, tenant, "/deliverystats").json()
    assert body["InactiveMails"] == 2
    assert body["Bounces"][0] == {"Name": "All", "Count": 3}
    rows = {row["Type"]: row for row in body["Bounces"][1:]}
    assert rows["HardBounce"] == {
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Count": 2,
    }
    assert rows["Transient"]["Count"] == 1


def test_another_tenant_gets_404_or_nothing_on_every_bounce_endpoint(
    api, tenant, other_tenant
):
    b = bounce(tenant, raw_report=b"secret report", tag="private")
    for path in (f"/bounces/{b.id}", f"/bounces/{b.id}/dump"):
        response = get(api, other_tenant, path)
        assert response.status_code == 404
        assert response.json()["ErrorCode"] == 1001
        assert b"secret" not in response.content
    assert get(api, other_tenant, "/bounces?count=10&offset=0").json() == {
        "TotalCount": 0,
        "Bounces": [],
    }
    assert get(api, other_tenant, "/bounces/tags").json() == []
    stats = get(api, other_tenant, "/deliverystats").json()
    assert stats == {"InactiveMails": 0, "Bounces": [{"Name": "All", "Count": 0}]}


def test_a_huge_or_unknown_id_is_not_found(api, tenant):
    assert get(api, tenant, "/bounces/999999").status_code == 404
    assert get(api, tenant, f"/bounces/{10**30}").status_code == 404


def test_it_needs_a_server_token(api, tenant):
    response = api.send_json("GET", "/bounces?count=1&offset=0")
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10
