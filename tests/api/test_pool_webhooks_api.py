"""POST /webhooks/bounce: signed pool reports and Amazon SES notifications."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings

from api.views.pool_webhooks import pool_signature
from bounces.models import Bounce, Suppression, UnmatchedReport
from messages.archive import archive_get
from tests.bounces.helpers import (
    FIXTURE_MESSAGE_ID,
    FIXTURE_VERP,
    FIXTURES,
    send,
    verp_for,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("pool_secrets"),
]
SECRET = "s3cret-route-key"


@pytest.fixture
def pool_secrets():
    with override_settings(
        POOL_WEBHOOK_SECRETS={"pool-a": SECRET, "ses-eu": "ses-token"}
    ):
        yield


def post_signed(
    client, payload, *, route="pool-a", secret=SECRET, timestamp=None, body=None
):
    body = body if body is not None else json.dumps(payload).encode()
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    return client.generic(
        "POST",
        "/webhooks/bounce",
        body,
        content_type="application/json",
        HTTP_X_POOL_ROUTE=route,
        HTTP_X_POOL_TIMESTAMP=timestamp,
        HTTP_X_POOL_SIGNATURE=pool_signature(
            secret=secret, timestamp=timestamp, body=body
        ),
    )


def test_a_signed_report_by_message_id_records_the_bounce(api, tenant):
    message = send(tenant, to="bob@example.net, other@example.org")
    response = post_signed(
        api,
        {
            "MessageID": str(message.message_id),
            "Email": "BOB@example.net",
            "Status": "5.1.1",
            "Diagnostic": "smtp; 550 5.1.1 user unknown",
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["Recorded"] == 1
    bounce = Bounce.objects.get()
    assert (bounce.message, bounce.email, bounce.type) == (
        message,
        "bob@example.net",
        "HardBounce",
    )
    assert archive_get(key=bounce.dump_key).startswith(b"{")
    assert Suppression.objects.filter(email="bob@example.net").exists()


def test_a_signed_report_by_verp_with_an_explicit_type(api, tenant):
    message = send(tenant)
    row = message.recipients.get()
    response = post_signed(
        api, [{"VERP": verp_for(row), "Type": "Blocked", "Diagnostic": "554 no"}]
    )
    assert response.json()["Recorded"] == 1
    bounce = Bounce.objects.get()
    assert (bounce.email, bounce.type, bounce.inactive) == (
        "bob@example.net",
        "Blocked",
        False,
    )


def test_a_report_that_matches_nothing_is_kept_for_the_operator(api, tenant):
    response = post_signed(
        api,
        {
            "MessageID": FIXTURE_MESSAGE_ID,
            "Email": "who@example.org",
            "Status": "5.1.1",
        },
    )
    assert response.json()["Unmatched"] == 1
    kept = UnmatchedReport.objects.get()
    assert (kept.source, kept.email) == ("pool_webhook", "who@example.org")
    assert Bounce.objects.count() == 0


def test_an_address_that_is_not_a_recipient_of_the_message_is_not_recorded(api, tenant):
    message = send(tenant)
    post_signed(
        api, {"MessageID": str(message.message_id), "Email": "victim@example.org"}
    )
    assert Bounce.objects.count() == 0


def test_a_bad_signature_is_refused(api, tenant):
    message = send(tenant)
    payload = {"MessageID": str(message.message_id), "Email": "bob@example.net"}
    response = post_signed(api, payload, secret="wrong")
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == 10
    assert post_signed(api, payload, route="unknown-route").status_code == 401
    assert Bounce.objects.count() == 0


def test_a_tampered_body_is_refused(api, tenant):
    message = send(tenant)
    good = json.dumps(
        {"MessageID": str(message.message_id), "Email": "bob@example.net"}
    )
    timestamp = str(int(time.time()))
    response = api.generic(
        "POST",
        "/webhooks/bounce",
        good.replace("bob", "eve"),
        content_type="application/json",
        HTTP_X_POOL_ROUTE="pool-a",
        HTTP_X_POOL_TIMESTAMP=timestamp,
        HTTP_X_POOL_SIGNATURE=pool_signature(
            secret=SECRET, timestamp=timestamp, body=good.encode()
        ),
    )
    assert response.status_code == 401


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_stale_or_future_timestamp_is_refused(api, tenant, skew):
    message = send(tenant)
    payload = {"MessageID": str(message.message_id), "Email": "bob@example.net"}
    response = post_signed(api, payload, timestamp=int(time.time()) + skew)
    assert response.status_code == 401
    assert "window" in response.json()["Message"]


def test_a_replayed_request_is_refused(api, tenant):
    message = send(tenant)
    body = json.dumps(
        {"MessageID": str(message.message_id), "Email": "bob@example.net"}
    ).encode()
    timestamp = int(time.time())
    assert post_signed(api, None, body=body, timestamp=timestamp).status_code == 200
    replay = post_signed(api, None, body=body, timestamp=timestamp)
    assert replay.status_code == 401
    assert "replay" in replay.json()["Message"]
    assert Bounce.objects.count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"Email": "bob@example.net"},
        {"MessageID": "x"},
        {"MessageID": "x", "Email": "a@b.c", "Type": "NotAType"},
        [],
        "text",
        {"MessageID": {"nested": 1}, "Email": "a@b.c"},
    ],
)
def test_malformed_reports_answer_300(api, tenant, payload):
    response = post_signed(api, payload)
    assert response.status_code == 422
    assert response.json()["ErrorCode"] == 300


def test_invalid_json_answers_402(api, tenant):
    response = post_signed(api, None, body=b"{nope")
    assert response.status_code == 422 and response.json()["ErrorCode"] == 402


# --- Amazon SES via SNS ------------------------------------------------------------------


def ses(name, *, message, row):
    envelope = json.loads((FIXTURES / name).read_text())
    inner = envelope["Message"].replace(FIXTURE_MESSAGE_ID, str(message.message_id))
    inner = inner.replace(FIXTURE_VERP, verp_for(row))
    envelope["Message"] = inner.replace("sam@example.com", row.email).replace(
        "tina@example.com", row.email
    )
    envelope["Timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return envelope


def post_sns(api, envelope, *, token="ses-token"):
    return api.generic(
        "POST",
        f"/webhooks/bounce?route=ses-eu&token={token}",
        json.dumps(envelope),
        content_type="text/plain; charset=UTF-8",  # what SNS sends
    )


def test_an_ses_permanent_bounce_is_a_hard_bounce(api, tenant):
    message = send(tenant, to="sam@example.com")
    row = message.recipients.get()
    response = post_sns(api, ses("ses_bounce.json", message=message, row=row))
    assert response.status_code == 200, response.content
    bounce = Bounce.objects.get()
    assert (bounce.email, bounce.type, bounce.inactive) == (
        "sam@example.com",
        "HardBounce",
        True,
    )
    assert bounce.details == "smtp; 550 5.1.1 user unknown"


def test_an_ses_complaint_is_a_spam_complaint_matched_by_message_id(api, tenant):
    message = send(tenant, to="tina@example.com")
    row = message.recipients.get()
    response = post_sns(api, ses("ses_complaint.json", message=message, row=row))
    assert response.json()["Recorded"] == 1
    bounce = Bounce.objects.get()
    assert (bounce.type, bounce.can_activate) == ("SpamComplaint", False)


def test_ses_is_also_accepted_through_the_signed_wrapper(api, tenant):
    message = send(tenant, to="sam@example.com")
    envelope = ses("ses_bounce.json", message=message, row=message.recipients.get())
    assert post_signed(api, envelope).json()["Recorded"] == 1


def test_sns_with_a_wrong_token_is_refused(api, tenant):
    message = send(tenant, to="sam@example.com")
    envelope = ses("ses_bounce.json", message=message, row=message.recipients.get())
    assert post_sns(api, envelope, token="guess").status_code == 401
    assert Bounce.objects.count() == 0


def test_a_redelivered_sns_message_is_recorded_once(api, tenant):
    message = send(tenant, to="sam@example.com")
    envelope = ses("ses_bounce.json", message=message, row=message.recipients.get())
    assert post_sns(api, envelope).status_code == 200
    assert post_sns(api, envelope).status_code == 401
    assert Bounce.objects.count() == 1


def test_an_old_sns_notification_is_refused(api, tenant):
    message = send(tenant, to="sam@example.com")
    envelope = ses("ses_bounce.json", message=message, row=message.recipients.get())
    envelope["Timestamp"] = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    assert post_sns(api, envelope).status_code == 401


def test_the_token_route_accepts_only_sns_envelopes(api, tenant):
    message = send(tenant)
    response = post_sns(
        api, {"MessageID": str(message.message_id), "Email": "bob@example.net"}
    )
    assert response.status_code == 422
    assert Bounce.objects.count() == 0


def test_a_subscription_confirmation_records_nothing(api, tenant):
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-bounces",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": datetime.now(UTC).isoformat(),
    }
    response = post_sns(api, envelope)
    assert response.status_code == 200
    assert response.json()["Recorded"] == 0
