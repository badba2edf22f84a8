"""Broadcast unsubscribe end to end over real sockets: HTTP send to a live server,
SMTP delivery to a sink, a one-click POST to the link, the SubscriptionChange
webhook to a real HTTP receiver, and the next send refused."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
import requests

from bounces.models import Suppression
from messages.archive import archive_get
from messages.delivery import delivery_run
from messages.dkim import dkim_verify
from messages.models import Message, MessageEvent
from tests.factories import make_tenant
from tests.webhooks.conftest import receiver, webhook_settings  # noqa: F401 - fixtures
from webhooks.models import WebhookDelivery
from webhooks.services import (
    WebhookInput,
    webhook_create,
    webhook_delivery_attempt,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(transactional_db):
    return make_tenant("acme")


@pytest.fixture
def http(live_server, acme, settings):
    settings.UNSUBSCRIBE_BASE_URL = live_server.url
    session = requests.Session()
    session.headers.update(
        {"Accept": "application/json", "X-Postmark-Server-Token": acme.server_token}
    )
    yield session
    session.close()


def send(http, live_server, acme, **fields):
    body = {
        "From": acme.sender,
        "To": "reader@example.org, second@example.org",
        "Subject": "Our news",
        "TextBody": "Hello reader",
        "HtmlBody": "<html><body><p>Hello reader</p></body></html>",
        "MessageStream": "broadcast",
        "Tag": "monthly",
        "Metadata": {"campaign": "dec"},
    }
    body.update(fields)
    return http.post(f"{live_server.url}/email", json=body, timeout=10)


def parsed(data: bytes):
    return BytesParser(policy=policy.default).parsebytes(data)


def https_link(message) -> str:
    return message["List-Unsubscribe"].split(">")[0].lstrip("<")


def deliver(response, sink) -> dict[str, object]:
    assert response.status_code == 200, response.text
    message = Message.objects.get(message_id=response.json()["MessageID"])
    delivery_run(message_ids=[message.id])
    return {r.rcpt_tos[0]: r for r in sink.state.received}


def test_a_broadcast_copy_carries_the_headers_and_link_and_one_click_unsubscribes(
    http,
    live_server,
    acme,
    sink,
    pool_to,
    receiver,  # noqa: F811 - the fixture imported above
    webhook_settings,  # noqa: F811
):
    pool_to(sink.port)
    webhook_create(
        server=acme.server,
        data=WebhookInput(
            url=receiver.url,
            message_stream="broadcast",
            triggers={"SubscriptionChange": {"Enabled": True}},
        ),
    )
    response = send(http, live_server, acme)
    by_rcpt = deliver(response, sink)
    assert set(by_rcpt) == {"reader@example.org", "second@example.org"}

    published = {acme.domain.dkim_host: acme.domain.dkim_text_value}
    links = {}
    for rcpt, received in by_rcpt.items():
        copy = parsed(received.data)
        assert copy["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "<mailto:" in copy["List-Unsubscribe"]
        link = https_link(copy)
        assert link.startswith(f"{live_server.url}/unsubscribe/")
        text = copy.get_body(("plain",)).get_content()
        html = copy.get_body(("html",)).get_content()
        assert f"Unsubscribe: {link}" in text
        assert f'href="{link}"' in html
        # The signature covers the added headers (RFC 8058 §4).
        assert dkim_verify(message=received.data, txt_lookup=published.get)
        signature = copy["DKIM-Signature"].replace("\r\n", "").replace(" ", "")
        assert "list-unsubscribe:list-unsubscribe-post" in signature
        links[rcpt] = link
    assert links["reader@example.org"] != links["second@example.org"]

    # The archived original has none of it.
    message = Message.objects.get(message_id=response.json()["MessageID"])
    original = parsed(archive_get(key=message.archive_key))
    assert original["List-Unsubscribe"] is None
    assert "unsubscribe" not in original.get_body(("plain",)).get_content().lower()

    link = links["reader@example.org"]
    page = requests.get(link, timeout=10)
    assert page.status_code == 200
    assert "reader@example.org" in page.text
    assert not Suppression.objects.filter(email="reader@example.org").exists()

    # RFC 8058 §3.2: the client POSTs this body, without cookies.
    for _ in range(2):  # a repeat changes nothing
        one_click = requests.post(
            link, data={"List-Unsubscribe": "One-Click"}, timeout=10
        )
        assert one_click.status_code == 200
    row = Suppression.objects.get(server=acme.server, email="reader@example.org")
    assert (row.message_stream, row.reason, row.origin) == (
        "broadcast",
        "ManualSuppression",
        "Recipient",
    )
    assert not Suppression.objects.filter(email="second@example.org").exists()
    event = MessageEvent.objects.get(message=message, type="SubscriptionChanged")
    assert event.recipient == "reader@example.org"
    assert event.details == {"Origin": "Recipient", "SuppressSending": "True"}

    deliveries = list(WebhookDelivery.objects.all())
    assert len(deliveries) == 1
    assert webhook_delivery_attempt(delivery_id=deliveries[0].id) == "delivered"
    hook = receiver.requests[0].json
    assert hook == {
        "RecordType": "SubscriptionChange",
        "MessageID": str(message.message_id),
        "ServerID": acme.server.id,
        "MessageStream": "broadcast",
        "ChangedAt": hook["ChangedAt"],
        "Recipient": "reader@example.org",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "monthly",
        "Metadata": {"campaign": "dec"},
    }
    assert hook["ChangedAt"].endswith("Z")

    # The next broadcast to the address is refused as Postmark refuses inactive
    # recipients; the transactional stream has its own list.
    again = send(http, live_server, acme, To="reader@example.org")
    assert again.status_code == 422
    assert again.json()["ErrorCode"] == 406
    assert "Found inactive addresses: reader@example.org." in again.json()["Message"]
    transactional = send(
        http, live_server, acme, To="reader@example.org", MessageStream="outbound"
    )
    assert transactional.status_code == 200


def test_transactional_and_custom_streams_get_no_unsubscribe_additions(
    http, live_server, acme, sink, pool_to
):
    pool_to(sink.port)
    custom = http.post(
        f"{live_server.url}/message-streams",
        json={
            "ID": "own-list",
            "Name": "Own list",
            "MessageStreamType": "Broadcasts",
            "SubscriptionManagementConfiguration": {
                "UnsubscribeHandlingType": "Custom"
            },
        },
        timeout=10,
    )
    assert custom.status_code == 200, custom.text
    for stream in ("outbound", "own-list"):
        sink.state.received.clear()
        by_rcpt = deliver(
            send(
                http,
                live_server,
                acme,
                MessageStream=stream,
                TextBody="Hi {{{ pm:unsubscribe }}}",
            ),
            sink,
        )
        for received in by_rcpt.values():
            copy = parsed(received.data)
            assert copy["List-Unsubscribe"] is None
            assert copy["List-Unsubscribe-Post"] is None
            assert copy.get_body(("plain",)).get_content().strip() == (
                "Hi {{{ pm:unsubscribe }}}"
            )


def test_a_forged_link_is_404_and_changes_nothing(http, live_server, acme):
    for method in ("GET", "POST"):
        response = requests.request(
            method,
            f"{live_server.url}/unsubscribe/nbswy3dp.0123456789abcdef",
            timeout=10,
        )
        assert response.status_code == 404
    assert not Suppression.objects.exists()


@pytest.fixture
def bounce_mx():
    from bounces.bounce_mx import bounce_mx_controller

    controller = bounce_mx_controller(host="127.0.0.1", port=0)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def test_mail_to_the_mailto_address_unsubscribes_at_the_bounce_mx(
    http, live_server, acme, sink, pool_to, bounce_mx
):
    import smtplib
    from urllib.parse import parse_qs, urlsplit

    pool_to(sink.port)
    by_rcpt = deliver(send(http, live_server, acme, To="second@example.org"), sink)
    header = parsed(by_rcpt["second@example.org"].data)["List-Unsubscribe"]
    mailto = urlsplit("mailto:" + header.split("<mailto:")[1].rstrip(">"))
    address = mailto.path
    subject = parse_qs(mailto.query)["subject"][0]
    assert address == "unsubscribe@bounces.localhost"

    def mail(subject_line: str) -> tuple[int, bytes]:
        request = (
            f"From: second@example.org\r\nTo: {address}\r\n"
            f"Subject: {subject_line}\r\n\r\nPlease unsubscribe me.\r\n"
        ).encode()
        with smtplib.SMTP("127.0.0.1", bounce_mx.port, timeout=10) as client:
            client.ehlo("mx.example.org")
            client.mail("second@example.org")
            assert client.rcpt(address)[0] == 250
            return client.data(request)

    code, _ = mail("unsubscribe nbswy3dp.0123456789abcdef0123456789abcdef")
    assert code == 550
    assert not Suppression.objects.exists()
    code, text = mail(subject)
    assert code == 250, text
    row = Suppression.objects.get(server=acme.server, email="second@example.org")
    assert (row.message_stream, row.reason, row.origin) == (
        "broadcast",
        "ManualSuppression",
        "Recipient",
    )


def test_an_smtp_submission_to_a_broadcast_stream_gets_the_link_too(
    acme, sink, pool_to, settings, tmp_path
):
    import smtplib
    import ssl
    from email.message import EmailMessage

    from smtp_ingest.handler import SmtpdConfig
    from smtp_ingest.server import ServerThread
    from smtp_ingest.tls import dev_certificate, server_context

    settings.UNSUBSCRIBE_BASE_URL = "https://pm.example.com"
    pool_to(sink.port)
    cert, key = dev_certificate(directory=tmp_path, hostname="smtp.test")
    server = ServerThread(
        config=SmtpdConfig.from_settings(redis_url="", workers=2),
        tls_context=server_context(cert=cert, key=key),
    ).start()
    try:
        msg = EmailMessage()
        msg["From"] = acme.sender
        msg["To"] = "reader@example.org"
        msg["Subject"] = "Over SMTP"
        msg["X-PM-Message-Stream"] = "broadcast"
        msg.set_content("Hello {{{ pm:unsubscribe }}}\n")
        client_tls = ssl.create_default_context()
        client_tls.check_hostname = False
        client_tls.verify_mode = ssl.CERT_NONE  # our self-signed dev certificate
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.starttls(context=client_tls)
            client.login(acme.server_token, acme.server_token)
            refused = client.send_message(msg)
        assert refused == {}
    finally:
        server.stop()
    message = Message.objects.get(server=acme.server, subject="Over SMTP")
    assert message.message_stream == "broadcast"
    delivery_run(message_ids=[message.id])
    copy = parsed(sink.state.received[0].data)
    link = https_link(copy)
    assert link.startswith("https://pm.example.com/unsubscribe/")
    assert copy.get_body(("plain",)).get_content().strip() == f"Hello {link}"
    assert copy["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_tracked_broadcast_copy_has_tracked_links_but_an_untracked_unsubscribe_link(
    http, live_server, acme, sink, pool_to, settings
):
    settings.TRACKING_BASE_URL = live_server.url
    pool_to(sink.port)
    response = send(
        http,
        live_server,
        acme,
        To="reader@example.org",
        HtmlBody='<html><body><a href="https://shop.example.org/sale">Sale</a>'
        "</body></html>",
        TrackOpens=True,
        TrackLinks="HtmlAndText",
    )
    received = deliver(response, sink)["reader@example.org"]
    copy = parsed(received.data)
    html = copy.get_body(("html",)).get_content()
    link = https_link(copy)
    # The shop link and the pixel go through the tracker ...
    assert f"{live_server.url}/t/c/" in html
    assert f"{live_server.url}/t/o/" in html
    assert 'href="https://shop.example.org/sale"' not in html
    # ... the unsubscribe link does not, and one signature covers it all.
    assert f'href="{link}"' in html
    assert "/t/c/" not in link
    published = {acme.domain.dkim_host: acme.domain.dkim_text_value}
    assert dkim_verify(message=received.data, txt_lookup=published.get)
