from __future__ import annotations

import base64
import socket
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from webhooks import signature
from webhooks.models import Webhook, WebhookDelivery
from webhooks.services import (
    WebhookInput,
    webhook_create,
    webhook_deliveries_enqueue_due,
    webhook_delivery_attempt,
    webhook_delivery_replay,
    webhook_emit,
)

pytestmark = pytest.mark.django_db

DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 1,
    "MessageStream": "outbound",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Recipient": "john@example.com",
    "Tag": "welcome",
    "DeliveredAt": "2026-11-23T09:30:00.000000Z",
    "Details": "250 2.0.0 OK",
    "Metadata": {"a": "1"},
}


def make_hook(tenant, url, **kwargs) -> Webhook:
    data = WebhookInput(url=url, triggers={"Delivery": {"Enabled": True}}, **kwargs)
    return webhook_create(server=tenant.server, data=data)


def emit(tenant, payload=DELIVERY, stream="outbound") -> list[WebhookDelivery]:
    with transaction.atomic():
        webhook_emit(
            server=tenant.server,
            message_stream=stream,
            record_type=payload["RecordType"],
            payload=payload,
        )
    return list(WebhookDelivery.objects.order_by("id"))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_failing_receiver_gets_the_event_after_it_recovers(
    tenant, receiver, webhook_settings
):
    receiver.statuses = [500, 200]
    hook = make_hook(
        tenant,
        receiver.url,
        http_auth={"Username": "hook", "Password": "s3cret"},
        http_headers=[
            {"Name": "X-Tenant", "Value": "acme"},
            {"Name": "x-pm-signature", "Value": "forged"},
        ],
    )
    (row,) = emit(tenant)

    assert webhook_delivery_attempt(delivery_id=row.id) == "pending"
    row.refresh_from_db()
    assert row.last_status_code == 500 and row.attempts == 1
    assert webhook_delivery_attempt(delivery_id=row.id) == "delivered"
    row.refresh_from_db()
    assert row.status == "delivered" and row.delivered_at is not None

    first, second = receiver.requests
    assert second.json == DELIVERY  # Postmark's payload, untouched
    assert second.body.startswith(b'{"RecordType": "Delivery", "ServerID"')
    assert first.body == second.body
    assert second.headers["Content-Type"] == "application/json"
    assert second.headers["Authorization"] == basic("hook", "s3cret")
    assert second.headers["X-Tenant"] == "acme"
    assert first.headers["X-PM-Retries-Remaining"] == "2"
    assert second.headers["X-PM-Retries-Remaining"] == "1"
    assert (
        first.headers["X-PM-Webhook-Trace-Id"]
        == second.headers["X-PM-Webhook-Trace-Id"]
        == str(row.trace_id)
    )
    assert signature.verify(
        secret=hook.signing_secret,
        body=second.body,
        header=second.headers["X-PM-Signature"],
    )
    assert not signature.verify(
        secret="wrong", body=second.body, header=second.headers["X-PM-Signature"]
    )
    assert not signature.verify(
        secret=hook.signing_secret,
        body=second.body + b" ",
        header=second.headers["X-PM-Signature"],
    )


def test_a_stale_signature_is_refused_by_the_verifier():
    header = signature.sign(secret="k", body=b"{}", timestamp=1_000_000)
    assert signature.verify(secret="k", body=b"{}", header=header, now=1_000_100)
    assert not signature.verify(secret="k", body=b"{}", header=header, now=1_001_000)


def test_basic_auth_comes_from_url_userinfo(tenant, receiver, webhook_settings):
    url = receiver.url.replace("http://", "http://anymail:p%40ss@")
    make_hook(tenant, url)
    (row,) = emit(tenant)
    assert webhook_delivery_attempt(delivery_id=row.id) == "delivered"
    assert receiver.requests[0].headers["Authorization"] == basic("anymail", "p@ss")
    assert receiver.requests[0].path == "/hook"


def test_it_dead_letters_after_the_schedule_and_replays(
    tenant, receiver, webhook_settings
):
    receiver.statuses = [503]
    make_hook(tenant, receiver.url)
    (row,) = emit(tenant)
    results = [webhook_delivery_attempt(delivery_id=row.id) for _ in range(4)]
    assert results == ["pending", "pending", "dead", None]
    row.refresh_from_db()
    assert row.status == "dead" and row.attempts == 3 and row.dead_at is not None
    assert row.last_status_code == 503 and "503" in row.last_error
    assert [r.headers["X-PM-Retries-Remaining"] for r in receiver.requests] == [
        "2",
        "1",
        "0",
    ]

    receiver.statuses = [200]
    replayed = webhook_delivery_replay(delivery_id=row.id, server=tenant.server)
    assert replayed.status == "pending" and replayed.attempts == 0
    assert webhook_delivery_attempt(delivery_id=row.id) == "delivered"
    assert receiver.requests[-1].headers["X-PM-Webhook-Trace-Id"] == str(row.trace_id)
    # Replaying a delivered row changes nothing.
    assert webhook_delivery_replay(delivery_id=row.id).status == "delivered"


def test_another_tenant_cannot_replay_our_deliveries(
    tenant, other_tenant, receiver, webhook_settings
):
    receiver.statuses = [404]
    make_hook(tenant, receiver.url)
    (row,) = emit(tenant)
    webhook_delivery_attempt(delivery_id=row.id)
    assert (
        webhook_delivery_replay(delivery_id=row.id, server=other_tenant.server) is None
    )
    row.refresh_from_db()
    assert row.status == "dead"


def test_a_4xx_answer_is_not_retried_but_kept(tenant, receiver, webhook_settings):
    receiver.statuses = [404]
    make_hook(tenant, receiver.url)
    (row,) = emit(tenant)
    assert webhook_delivery_attempt(delivery_id=row.id) == "dead"
    row.refresh_from_db()
    assert row.last_status_code == 404 and row.attempts == 1
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [408, 429])
def test_timeouts_and_rate_limits_are_retried(
    tenant, receiver, webhook_settings, status
):
    receiver.statuses = [status, 200]
    make_hook(tenant, receiver.url)
    (row,) = emit(tenant)
    assert webhook_delivery_attempt(delivery_id=row.id) == "pending"
    assert webhook_delivery_attempt(delivery_id=row.id) == "delivered"


def test_a_refused_connection_is_retried(tenant, webhook_settings):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    make_hook(tenant, f"http://127.0.0.1:{port}/hook")
    (row,) = emit(tenant)
    assert webhook_delivery_attempt(delivery_id=row.id) == "pending"
    row.refresh_from_db()
    assert row.last_status_code is None and "ConnectionError" in row.last_error


def test_a_retry_waits_for_its_backoff(tenant, receiver, webhook_settings):
    webhook_settings.WEBHOOK_RETRY_DELAYS = [600, 600]
    receiver.statuses = [500, 200]
    make_hook(tenant, receiver.url)
    (row,) = emit(tenant)
    before = timezone.now()
    assert webhook_delivery_attempt(delivery_id=row.id) == "pending"
    row.refresh_from_db()
    assert before + timedelta(seconds=600) <= row.next_attempt_at
    assert row.next_attempt_at <= before + timedelta(seconds=661)  # ≤ 10 % jitter
    assert webhook_delivery_attempt(delivery_id=row.id) is None  # not due yet
    assert webhook_deliveries_enqueue_due() == 0
    assert len(receiver.requests) == 1


def test_private_addresses_are_refused_unless_allowed(tenant, receiver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    make_hook(tenant, receiver.url)
    (row,) = emit(tenant)
    assert webhook_delivery_attempt(delivery_id=row.id) == "dead"
    row.refresh_from_db()
    assert "non-public" in row.last_error
    assert receiver.requests == []


def test_emit_queues_only_enabled_triggers_of_the_stream(tenant, other_tenant):
    delivery_hook = make_hook(tenant, "https://a.example.org/")
    webhook_create(
        server=tenant.server,
        data=WebhookInput(
            url="https://b.example.org/", triggers={"Bounce": {"Enabled": True}}
        ),
    )
    webhook_create(
        server=tenant.server,
        data=WebhookInput(
            url="https://c.example.org/",
            message_stream="broadcast",
            triggers={"Delivery": {"Enabled": True}},
        ),
    )
    make_hook(other_tenant, "https://d.example.org/")
    rows = emit(tenant)
    assert [(r.webhook_id, r.record_type) for r in rows] == [
        (delivery_hook.id, "Delivery")
    ]
    assert rows[0].status == "pending" and rows[0].payload == DELIVERY


def test_bounce_content_goes_only_to_webhooks_that_ask_for_it(tenant):
    def hook(include: bool) -> Webhook:
        return webhook_create(
            server=tenant.server,
            data=WebhookInput(
                url="https://a.example.org/",
                triggers={"Bounce": {"Enabled": True, "IncludeContent": include}},
            ),
        )

    with_content, without = hook(True), hook(False)
    payload = {"RecordType": "Bounce", "Type": "HardBounce", "Content": "raw DSN"}
    rows = {r.webhook_id: r.payload for r in emit(tenant, payload)}
    assert rows[with_content.id]["Content"] == "raw DSN"
    assert "Content" not in rows[without.id]


def test_spam_complaints_go_to_the_spam_complaint_trigger(tenant):
    spam = webhook_create(
        server=tenant.server,
        data=WebhookInput(
            url="https://a.example.org/", triggers={"SpamComplaint": {"Enabled": True}}
        ),
    )
    webhook_create(
        server=tenant.server,
        data=WebhookInput(
            url="https://b.example.org/", triggers={"Bounce": {"Enabled": True}}
        ),
    )
    payload = {"RecordType": "SpamComplaint", "Type": "SpamComplaint"}
    with transaction.atomic():
        # Even when a caller names the record type Bounce.
        webhook_emit(
            server=tenant.server,
            message_stream="outbound",
            record_type="Bounce",
            payload=payload,
        )
    assert [r.webhook_id for r in WebhookDelivery.objects.all()] == [spam.id]


def test_smtp_api_error_bounces_need_the_server_opt_in(tenant):
    webhook_create(
        server=tenant.server,
        data=WebhookInput(
            url="https://a.example.org/", triggers={"Bounce": {"Enabled": True}}
        ),
    )
    payload = {"RecordType": "Bounce", "Type": "SMTPApiError"}
    assert emit(tenant, payload) == []
    tenant.server.enable_smtp_api_error_hooks = True
    tenant.server.save()
    assert len(emit(tenant, payload)) == 1


def test_outbox_rows_roll_back_with_the_event(tenant):
    make_hook(tenant, "https://a.example.org/")
    with pytest.raises(RuntimeError), transaction.atomic():
        webhook_emit(
            server=tenant.server,
            message_stream="outbound",
            record_type="Delivery",
            payload=DELIVERY,
        )
        raise RuntimeError("event failed")
    assert not WebhookDelivery.objects.exists()


def test_the_default_schedule_retries_for_at_least_a_day():
    from postmark_clone import settings as defaults

    assert sum(defaults.WEBHOOK_RETRY_DELAYS) >= 24 * 3600


def test_beat_runs_the_sweeper():
    from postmark_clone.celery import app

    jobs = {job["task"] for job in app.conf.beat_schedule.values()}
    assert "webhooks.tasks.webhook_sweep" in jobs


def test_a_claimed_row_is_not_sent_twice(tenant, receiver, webhook_settings):
    """Two workers racing for one row: the conditional UPDATE lets one through."""
    make_hook(tenant, receiver.url)
    (row,) = emit(tenant)
    WebhookDelivery.objects.filter(id=row.id).update(
        next_attempt_at=timezone.now() + timedelta(seconds=60), attempts=1
    )  # as if another worker holds the lease
    assert webhook_delivery_attempt(delivery_id=row.id) is None
    assert receiver.requests == []


def test_redirects_are_followed_with_the_same_post(tenant, receiver, webhook_settings):
    receiver.statuses = [
        (308, {"Location": "/moved"}),
        (302, {"Location": "/final"}),
        200,
    ]
    make_hook(tenant, receiver.url, http_auth={"Username": "u", "Password": "p"})
    (row,) = emit(tenant)
    assert webhook_delivery_attempt(delivery_id=row.id) == "delivered"
    assert [r.path for r in receiver.requests] == ["/hook", "/moved", "/final"]
    assert all(r.json == DELIVERY for r in receiver.requests)
    assert receiver.requests[-1].headers["Authorization"] == basic("u", "p")


def test_a_redirect_loop_is_dead_not_retried(tenant, receiver, webhook_settings):
    receiver.statuses = [(302, {"Location": "/hook"})]
    make_hook(tenant, receiver.url)
    (row,) = emit(tenant)
    assert webhook_delivery_attempt(delivery_id=row.id) == "dead"
    row.refresh_from_db()
    assert "redirects" in row.last_error
    assert len(receiver.requests) == 11


def test_a_failed_answer_is_kept_short_for_the_operator(tenant, webhook_settings):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Huge(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(500)
            self.send_header("Content-Length", str(10_000_000))
            self.end_headers()
            self.wfile.write(b"x" * 10_000_000)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Huge)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        make_hook(tenant, f"http://127.0.0.1:{server.server_address[1]}/")
        (row,) = emit(tenant)
        assert webhook_delivery_attempt(delivery_id=row.id) == "pending"
    finally:
        server.shutdown()
        server.server_close()
    row.refresh_from_db()
    assert row.last_status_code == 500
    assert len(row.last_error) < 600


def test_dead_letters_are_visible_and_replayable_in_the_admin(
    client, tenant, receiver, webhook_settings
):
    from django.contrib.auth.models import User

    receiver.statuses = [410]
    make_hook(tenant, receiver.url)
    (row,) = emit(tenant)
    webhook_delivery_attempt(delivery_id=row.id)
    admin = User.objects.create_superuser("ops", "ops@example.org", "pw-123456789")
    client.force_login(admin)
    url = "/admin/webhooks/webhookdelivery/"
    page = client.get(url, {"status__exact": "dead"})
    assert page.status_code == 200
    assert f"Delivery #{row.id} (dead)".encode() in page.content

    response = client.post(
        url, {"action": "replay", "_selected_action": [row.id]}, follow=True
    )
    assert response.status_code == 200
    row.refresh_from_db()
    assert row.status == "pending" and row.attempts == 0


def test_finished_deliveries_are_purged_after_retention(tenant, settings):
    from webhooks.services import webhook_deliveries_purge

    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    make_hook(tenant, "https://a.example.org/")
    for _ in range(4):
        emit(tenant)
    old_delivered, old_dead, old_pending, new_delivered = (
        WebhookDelivery.objects.order_by("id")
    )
    WebhookDelivery.objects.filter(id=old_delivered.id).update(status="delivered")
    WebhookDelivery.objects.filter(id=old_dead.id).update(status="dead")
    WebhookDelivery.objects.filter(id=new_delivered.id).update(status="delivered")
    WebhookDelivery.objects.exclude(id=new_delivered.id).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    assert webhook_deliveries_purge(batch_size=1) == 2
    assert set(WebhookDelivery.objects.values_list("id", flat=True)) == {
        old_pending.id,
        new_delivered.id,
    }
