"""What a signed-in user sees and can do on each page."""

from __future__ import annotations

import csv
import email
import email.policy
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, ServerToken
from bounces.models import Bounce, Suppression
from web.selectors import daily_stats

from .conftest import PASSWORD, deliver, hard_bounce, make_user, send, unique_email

pytestmark = pytest.mark.django_db


def test_activity_searches_by_recipient_from_the_url(world):
    send(world.tenant, to="zed@example.org", subject="For Zed")
    url = reverse("web:activity", args=[world.tenant.server.id])
    body = world.client.get(url, {"recipient": "zed@"}).content.decode()
    assert "For Zed" in body
    assert ">Hello<" not in body
    assert 'value="zed@"' in body  # the form shows the active filter
    everything = world.client.get(url).content.decode()
    assert "For Zed" in everything and "Hello" in everything
    assert "Globex secret" not in everything


def test_activity_filters_by_status_tag_and_dates(world):
    send(world.tenant, subject="Tagged one", tag="welcome")
    url = reverse("web:activity", args=[world.tenant.server.id])
    body = world.client.get(url, {"tag": "welcome"}).content.decode()
    assert "Tagged one" in body and "Hello" not in body
    body = world.client.get(
        url, {"fromdate": "2001-01-01", "todate": "2001-01-02"}
    ).content.decode()
    assert "No messages match these filters." in body
    # A bad date is ignored rather than answered with an error page.
    assert world.client.get(url, {"fromdate": "yesterday"}).status_code == 200


def test_activity_pages_through_large_results_keeping_filters(world):
    for i in range(55):
        send(world.tenant, to="many@example.org", subject=f"Bulk {i:02d}")
    url = reverse("web:activity", args=[world.tenant.server.id])
    first = world.client.get(url, {"recipient": "many@"}).content.decode()
    assert "1–50 of 55" in first
    assert "Bulk 54" in first and "Bulk 04" not in first
    assert "?recipient=many%40&amp;page=2" in first
    second = world.client.get(url, {"recipient": "many@", "page": 2}).content.decode()
    assert "51–55 of 55" in second
    assert "Bulk 04" in second and "Bulk 54" not in second


def test_activity_query_count_does_not_grow_with_the_page(
    world, django_assert_num_queries
):
    url = reverse("web:activity", args=[world.tenant.server.id])
    # session, user, server+role, streams, page (a page shorter than its size
    # gives TotalCount without a COUNT query)
    with django_assert_num_queries(5):
        world.client.get(url)
    for i in range(40):
        send(world.tenant, subject=f"More {i}")
    with django_assert_num_queries(5):
        response = world.client.get(url)
    assert response.content.decode().count('class="row-link"') == 41


def test_bounce_list_query_count_is_fixed(world, django_assert_num_queries):
    url = reverse("web:bounces", args=[world.tenant.server.id])
    # session, user, server+role, streams, count, page, type counts
    with django_assert_num_queries(7):
        world.client.get(url)
    for i in range(20):
        hard_bounce(world.tenant, world.message, f"b{i}@example.org")
    with django_assert_num_queries(7):
        response = world.client.get(url)
    assert response.content.decode().count('class="row-link"') == 21


def test_message_detail_shows_headers_events_text_and_recipients(world):
    url = reverse(
        "web:message", args=[world.tenant.server.id, world.message.message_id]
    )
    body = world.client.get(url).content.decode()
    assert "Delivered" in body and "250 2.0.0 OK queued" in body
    assert "Bounced" in body and "550 5.1.1 user unknown" in body
    assert "bob@example.org" in body and "alice@example.org" in body
    assert "X-PM-Message-Id" in body  # headers table
    assert "Hi there" in body  # text part
    assert (
        reverse("web:bounce_detail", args=[world.tenant.server.id, world.bounce.id])
        in body
    )


def test_bounces_are_grouped_by_type_and_filterable(world):
    url = reverse("web:bounces", args=[world.tenant.server.id])
    body = world.client.get(url).content.decode()
    assert 'Hard bounce <span class="count">1</span>' in body
    assert "bob@example.org" in body and "carol@example.org" not in body
    body = world.client.get(url, {"type": "SpamComplaint"}).content.decode()
    assert "No bounces match" in body
    body = world.client.get(
        url, {"emailFilter": "bob", "inactive": "true"}
    ).content.decode()
    assert "bob@example.org" in body


def test_bounce_detail_shows_the_raw_report_and_reactivates(world):
    s = world.tenant.server.id
    body = world.client.get(
        reverse("web:bounce_detail", args=[s, world.bounce.id])
    ).content.decode()
    assert "Diagnostic-Code: smtp; 550 5.1.1 user unknown" in body
    assert "Reactivate bob@example.org" in body
    response = world.client.post(
        reverse("web:bounce_activate", args=[s, world.bounce.id])
    )
    assert response.status_code == 302
    assert not Bounce.objects.get(id=world.bounce.id).inactive
    assert not Suppression.objects.filter(
        server=world.tenant.server, email="bob@example.org"
    ).exists()
    body = world.client.get(response["Location"]).content.decode()
    assert "bob@example.org is active again." in body
    assert "Reactivate" not in body


def test_a_spam_complaint_cannot_be_reactivated(world):
    Bounce.objects.filter(id=world.bounce.id).update(
        can_activate=False, type="SpamComplaint"
    )
    s = world.tenant.server.id
    response = world.client.post(
        reverse("web:bounce_activate", args=[s, world.bounce.id]), follow=True
    )
    assert "This bounce cannot be activated." in response.content.decode()
    assert Bounce.objects.get(id=world.bounce.id).inactive


def test_suppressions_add_remove_and_export_csv(world):
    s = world.tenant.server.id
    url = reverse("web:suppressions", args=[s])
    response = world.client.post(
        url,
        {
            "stream": "outbound",
            "emails": "new@example.org, =evil@example.org\nnot-an-address",
        },
        follow=True,
    )
    body = response.content.decode()
    assert "Suppressed 2 address(es)." in body
    assert "Not valid: not-an-address" in body
    assert "new@example.org" in body and "bob@example.org" in body

    export = world.client.get(
        reverse("web:suppression_csv", args=[s]), {"stream": "outbound"}
    )
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0] == ["EmailAddress", "SuppressionReason", "Origin", "CreatedAt"]
    emails = {r[0] for r in rows[1:]}
    assert emails == {"bob@example.org", "new@example.org", "'=evil@example.org"}
    assert "carol@example.org" not in emails

    world.client.post(
        reverse("web:suppression_remove", args=[s]),
        {"stream": "outbound", "email": "new@example.org"},
    )
    assert not Suppression.objects.filter(
        server=world.tenant.server, email="new@example.org"
    ).exists()
    # An unknown stream is a 404, not a silent write elsewhere.
    assert (
        world.client.post(
            url, {"stream": "nope", "emails": "a@example.org"}
        ).status_code
        == 404
    )


def test_statistics_count_sends_deliveries_bounces_and_spam_per_day(world):
    hard_bounce(world.tenant, world.message, "spam@example.org")
    Bounce.objects.filter(email="spam@example.org").update(type="SpamComplaint")
    today = daily_stats(server=world.tenant.server, days=30)[-1]
    assert (today.sent, today.delivered, today.bounced, today.spam) == (1, 1, 1, 1)
    body = world.client.get(
        reverse("web:statistics", args=[world.tenant.server.id])
    ).content.decode()
    assert body.count("<svg") == 6  # sent, delivered, bounced, spam, opens, clicks
    assert 'aria-label="Sent per day: 1 in total over 30 days"' in body


def test_a_new_token_is_shown_once_and_revoking_it_stops_it(world, api):
    s = world.tenant.server.id
    response = world.client.post(
        reverse("web:token_create", args=[s]), {"name": "CI"}, follow=True
    )
    body = response.content.decode()
    assert "Copy your new token now." in body
    token_value = response.context["new_token"]["token"]
    assert token_value in body
    again = world.client.get(reverse("web:settings", args=[s])).content.decode()
    assert token_value not in again and "CI" in again

    payload = {
        "From": world.tenant.sender,
        "To": "x@example.org",
        "Subject": "s",
        "TextBody": "t",
    }
    ok = api.send_json(
        "POST", "/email", payload, HTTP_X_POSTMARK_SERVER_TOKEN=token_value
    )
    assert ok.status_code == 200
    token = ServerToken.objects.get(server=world.tenant.server, name="CI")
    world.client.post(reverse("web:token_revoke", args=[s, token.id]))
    refused = api.send_json(
        "POST", "/email", payload, HTTP_X_POSTMARK_SERVER_TOKEN=token_value
    )
    assert refused.status_code == 401


def test_webhook_urls_and_retention_are_editable_and_validated(world):
    s = world.tenant.server.id
    response = world.client.post(
        reverse("web:webhooks_update", args=[s]),
        {
            "bounce_hook_url": "https://hooks.example.org/bounce",
            "delivery_hook_url": "javascript:alert(1)",
        },
    )
    assert response.status_code == 400
    assert "Enter a valid URL." in response.content.decode()
    world.client.post(
        reverse("web:webhooks_update", args=[s]),
        {"bounce_hook_url": "https://hooks.example.org/bounce"},
    )
    world.tenant.server.refresh_from_db()
    assert world.tenant.server.bounce_hook_url == "https://hooks.example.org/bounce"

    assert (
        world.client.post(
            reverse("web:retention_update", args=[s]), {"retention_days": 400}
        ).status_code
        == 400
    )
    world.client.post(reverse("web:retention_update", args=[s]), {"retention_days": 90})
    world.tenant.server.refresh_from_db()
    assert world.tenant.server.retention_days == 90


def test_settings_show_domain_dns_records_and_state(world):
    body = world.client.get(
        reverse("web:settings", args=[world.tenant.server.id])
    ).content.decode()
    assert world.tenant.domain.dkim_host in body
    assert world.tenant.domain.dkim_public_key in body
    assert "Pending" in body


def test_invitation_without_a_system_server_shows_a_one_time_link(world):
    team = reverse("web:team", args=[world.tenant.account.id])
    invitee = unique_email("newbie")
    response = world.client.post(team, {"email": invitee, "role": "member"})
    link = response.context["invite_link"]
    assert link.startswith("http://127.0.0.1:8000/ui/invite/")
    assert link in response.content.decode()
    path = link.removeprefix("http://127.0.0.1:8000")

    guest = Client()
    assert (
        guest.post(
            reverse("web:login"), {"username": invitee, "password": ""}
        ).status_code
        == 200
    )
    response = guest.post(path, {"password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    assert (
        guest.get(reverse("web:activity", args=[world.tenant.server.id])).status_code
        == 200
    )
    assert Membership.objects.get(user__email=invitee).role == "member"
    # The link worked once.
    assert Client().get(path).status_code == 404


def test_invitation_is_sent_through_the_platform_when_configured(world, settings):
    from messages.archive import archive_get
    from messages.models import Message

    settings.INVITE_SERVER_ID = world.tenant.server.id
    settings.INVITE_FROM = f"Team <{world.tenant.sender}>"
    invitee = unique_email("mailed")
    response = world.client.post(
        reverse("web:team", args=[world.tenant.account.id]),
        {"email": invitee, "role": "admin"},
        follow=True,
    )
    assert f"Invitation sent to {invitee}." in response.content.decode()
    sent = Message.objects.get(server=world.tenant.server, recipients_text=invitee)
    parsed = email.message_from_bytes(
        archive_get(key=sent.archive_key), policy=email.policy.default
    )
    assert "/ui/invite/" in parsed.get_body(("plain",)).get_content()


def test_create_user_command_reads_the_password_from_stdin(tenant, monkeypatch):
    email = unique_email("ops")
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    out = io.StringIO()
    call_command(
        "create_user",
        email,
        "--account",
        str(tenant.account.id),
        "--password-stdin",
        stdout=out,
    )
    assert "is admin of account" in out.getvalue()
    client = Client()
    response = client.post(
        reverse("web:login"), {"username": email, "password": PASSWORD}
    )
    assert response.status_code == 302


def test_members_see_only_their_accounts_on_the_server_list(world):
    body = world.client.get(reverse("web:index")).content.decode()
    assert world.tenant.server.name in body
    assert world.other.server.name not in body
    lonely = make_user(world.other)
    Membership.objects.filter(user=lonely).delete()
    client = Client()
    client.force_login(lonely)
    assert (
        "not a member of any account"
        in client.get(reverse("web:index")).content.decode()
    )


def test_a_delivered_recipient_shows_as_delivered(world):
    deliver(world.message, "alice@example.org")
    body = world.client.get(
        reverse("web:message", args=[world.tenant.server.id, world.message.message_id])
    ).content.decode()
    assert "badge-delivered" in body


def test_demo_user_prints_credentials_that_work(tenant, settings):
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("demo_user", stdout=out)  # DEBUG is off in tests
    call_command(
        "demo_user", "--force", "--account", str(tenant.account.id), stdout=out
    )
    line = out.getvalue().strip()
    email, password = line.rsplit("sign in as ", 1)[1].split(" / ")
    client = Client()
    response = client.post(
        reverse("web:login"), {"username": email, "password": password}
    )
    assert response.status_code == 302
    assert tenant.server.name in client.get("/ui/").content.decode()


def test_a_link_for_someone_pending_elsewhere_is_never_shown_to_another_inviter(
    world,
):
    invitee = unique_email("sought-after")
    other_admin = make_user(world.other)
    other_client = Client()
    other_client.force_login(other_admin)
    first = other_client.post(
        reverse("web:team", args=[world.other.account.id]),
        {"email": invitee, "role": "member"},
    )
    assert first.context["invite_link"]  # the first inviter may pass it on

    response = world.client.post(
        reverse("web:team", args=[world.tenant.account.id]),
        {"email": invitee, "role": "admin"},
        follow=True,
    )
    body = response.content.decode()
    assert "/ui/invite/" not in body
    assert "pending invitation to another account" in body


def test_a_bad_filter_is_dropped_but_the_others_still_apply(world):
    send(world.tenant, to="zed@example.org", subject="For Zed")
    url = reverse("web:activity", args=[world.tenant.server.id])
    body = world.client.get(
        url, {"recipient": "zed@", "fromdate": "not-a-date", "status": "bogus"}
    ).content.decode()
    assert "For Zed" in body and ">Hello<" not in body


def test_a_page_past_the_end_offers_the_way_back(world):
    url = reverse("web:activity", args=[world.tenant.server.id])
    body = world.client.get(url, {"page": 99}).content.decode()
    assert "Past the last page" in body
    assert 'href="?page=1"' in body


def test_a_malformed_archived_message_still_renders(world):
    from messages.archive import archive_put
    from messages.models import Message

    raw = (
        b"From: =?bogus-charset?Q?=FF?= <x@example.org>\r\n"
        b"Subject: =?utf-8?B?broken base64?=\r\n"
        b'Content-Type: multipart/alternative; boundary="zz"\r\n\r\n'
        b"--zz\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n%%%not base64%%%\r\n"
        b"--zz\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=C3=A9 =ZZ</p>\r\n"
    )
    key = archive_put(key=f"messages/{world.tenant.server.id}/odd.eml", data=raw)
    Message.objects.filter(id=world.message.id).update(
        archive_key=key, metadata={"items": "x", "order": "42"}
    )
    s = world.tenant.server.id
    page = world.client.get(reverse("web:message", args=[s, world.message.message_id]))
    assert page.status_code == 200
    assert "order=42" in page.content.decode() and "items=x" in page.content.decode()
    html = world.client.get(
        reverse("web:message_html", args=[s, world.message.message_id])
    )
    assert html.status_code == 200
    assert "café".encode() in html.content


def test_a_message_whose_content_is_gone_shows_metadata_only(world):
    from messages.models import Message

    Message.objects.filter(id=world.message.id).update(archive_key="")
    s = world.tenant.server.id
    mid = world.message.message_id
    body = world.client.get(reverse("web:message", args=[s, mid])).content.decode()
    assert "no longer stored" in body and "Hello" in body
    assert (
        world.client.get(reverse("web:message_html", args=[s, mid])).status_code == 404
    )
    assert (
        world.client.get(reverse("web:message_raw", args=[s, mid])).status_code == 404
    )


def test_activity_filters_by_metadata_like_the_api(world):
    send(world.tenant, subject="Order mail", metadata={"order": "42"})
    send(world.tenant, subject="Other order", metadata={"order": "43"})
    url = reverse("web:activity", args=[world.tenant.server.id])
    body = world.client.get(url, {"metadata": "order=42"}).content.decode()
    assert "Order mail" in body and "Other order" not in body
    body = world.client.get(url, {"metadata_order": "43"}).content.decode()
    assert "Other order" in body and "Order mail" not in body
    # Keys become JSON lookups: anything but a plain key is refused, not used.
    response = world.client.get(url, {"metadata": "order__contains=4"})
    assert response.status_code == 200
    assert "Unsupported metadata key" in response.content.decode()


def test_message_detail_query_count_is_fixed(world, django_assert_num_queries):
    url = reverse(
        "web:message", args=[world.tenant.server.id, world.message.message_id]
    )
    # session, user, server+role, message, recipients, events
    with django_assert_num_queries(6):
        response = world.client.get(url)
    assert response.status_code == 200
