"""Unmodified postmarker (client and Django backend) against our live server;
only the base URL differs from talking to Postmark itself."""

from __future__ import annotations

import base64
from email import policy
from email.mime.image import MIMEImage
from email.parser import BytesParser

import pytest
from postmarker.core import PostmarkClient
from postmarker.django import EmailBackend, PostmarkEmailMultiAlternatives
from postmarker.exceptions import ClientError, PostmarkerException

from messages.archive import archive_get
from messages.models import Message

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def make_client(live_server):
    """Build clients for the live server; close their keep-alive sessions after
    the test so no server thread (and its database connection) lingers."""
    made: list[PostmarkClient] = []

    def build(token: str) -> PostmarkClient:
        made.append(PostmarkClient(server_token=token, root_api_url=live_server.url))
        return made[-1]

    yield build
    for client in made:
        client.session.close()


@pytest.fixture
def client(make_client, live_tenant) -> PostmarkClient:
    return make_client(live_tenant.server_token)


def parsed_mime(message: Message):
    return BytesParser(policy=policy.default).parsebytes(
        archive_get(key=message.archive_key)
    )


def test_a_single_send_with_everything_is_accepted_and_stored(client, live_tenant):
    response = client.emails.send(
        From=f"Acme Support <{live_tenant.sender}>",
        To=["alice@example.org", "Bob <bob@example.org>"],
        Cc="carol@example.org",
        Subject="Welcome",
        HtmlBody='<p>Hi</p><img src="cid:logo.png">',
        TextBody="Hi",
        Tag="welcome",
        Metadata={"user_id": "42"},
        ReplyTo="help@acme.example.com",
        Headers={"X-Campaign": "spring"},
        TrackOpens=True,
        TrackLinks="HtmlOnly",
        Attachments=[
            ("report.txt", base64.b64encode(b"numbers").decode(), "text/plain"),
            (
                "logo.png",
                base64.b64encode(PNG).decode(),
                "image/png",
                "cid:logo.png",
            ),
        ],
    )
    assert response["ErrorCode"] == 0
    assert response["Message"] == "OK"
    assert response["To"] == "alice@example.org,Bob <bob@example.org>"
    message = Message.objects.get(message_id=response["MessageID"])
    assert message.tag == "welcome"
    assert message.metadata == {"user_id": "42"}
    assert message.track_opens is True
    assert message.track_links == "HtmlOnly"
    assert message.recipients.count() == 3
    mime = parsed_mime(message)
    assert mime["X-Campaign"] == "spring"
    parts = {part.get_filename(): part for part in mime.walk() if part.get_filename()}
    assert parts["report.txt"].get_content() == "numbers"
    assert parts["logo.png"]["Content-ID"] == "<logo.png>"
    assert parts["logo.png"].get_content_disposition() == "inline"


def test_a_batch_answers_one_result_per_message(client, live_tenant):
    responses = client.emails.send_batch(
        {
            "From": live_tenant.sender,
            "To": "one@example.org",
            "Subject": "1",
            "TextBody": "one",
            "Tag": "batch",
        },
        {
            "From": live_tenant.sender,
            "To": "two@example.org",
            "Subject": "2",
            "HtmlBody": "<b>two</b>",
            "Metadata": {"n": "2"},
        },
    )
    assert [r["ErrorCode"] for r in responses] == [0, 0]
    assert [r["To"] for r in responses] == ["one@example.org", "two@example.org"]
    assert Message.objects.count() == 2
    assert Message.objects.get(message_id=responses[1]["MessageID"]).metadata == {
        "n": "2"
    }


def test_an_invalid_recipient_raises_client_error_300(client, live_tenant):
    with pytest.raises(ClientError) as caught:
        client.emails.send(
            From=live_tenant.sender,
            To="alice@localhost",
            Subject="x",
            TextBody="x",
        )
    assert caught.value.error_code == 300
    assert "Invalid 'To' address: 'alice@localhost'." in str(caught.value)


def test_a_bad_token_raises_client_error_10(make_client, live_tenant):
    client = make_client("wrong")
    with pytest.raises(ClientError) as caught:
        client.emails.send(
            From=live_tenant.sender, To="a@example.org", Subject="x", TextBody="x"
        )
    assert caught.value.error_code == 10


def test_a_sender_from_another_account_raises_client_error_400(
    client, live_other_tenant
):
    with pytest.raises(ClientError) as caught:
        client.emails.send(
            From=live_other_tenant.sender, To="a@example.org", Subject="x", TextBody="x"
        )
    assert caught.value.error_code == 400
    assert Message.objects.count() == 0


def test_an_unknown_stream_raises_client_error_1235(client, live_tenant):
    with pytest.raises(ClientError) as caught:
        client.emails.send(
            From=live_tenant.sender,
            To="a@example.org",
            Subject="x",
            TextBody="x",
            MessageStream="nope",
        )
    assert caught.value.error_code == 1235


def test_the_test_token_accepts_without_storing(make_client, live_tenant):
    client = make_client("POSTMARK_API_TEST")
    response = client.emails.send(
        From=live_tenant.sender, To="a@example.org", Subject="x", TextBody="x"
    )
    assert response["Message"] == "Test job accepted"
    assert Message.objects.count() == 0


@pytest.fixture
def django_backend(live_server, live_tenant, settings):
    settings.POSTMARK = {"TOKEN": live_tenant.server_token, "TRACK_OPENS": True}
    backend = EmailBackend()
    backend.open()
    # The only change from production use: where the API lives.
    backend.client.root_api_url = live_server.url
    yield backend
    backend.close()


def test_the_django_backend_sends_through_the_batch_endpoint(
    django_backend, live_tenant
):
    email = PostmarkEmailMultiAlternatives(
        subject="Invoice",
        body="Plain text",
        from_email=f"Acme Billing <{live_tenant.sender}>",
        to=["alice@example.org"],
        bcc=["audit@example.org"],
        tag="invoice",
        metadata={"invoice": "7"},
    )
    email.attach_alternative('<p>HTML</p><img src="cid:logo">', "text/html")
    email.attach("invoice.pdf", b"%PDF-1.4 fake", "application/pdf")
    image = MIMEImage(PNG, "png")
    image.add_header("Content-ID", "<logo>")
    image.add_header("Content-Disposition", "inline", filename="logo.png")
    email.attach(image)
    assert django_backend.send_messages([email]) == 1
    message = Message.objects.get()
    assert message.subject == "Invoice"
    assert message.tag == "invoice"
    assert message.metadata == {"invoice": "7"}
    assert message.track_opens is True
    assert sorted(r.email for r in message.recipients.all()) == [
        "alice@example.org",
        "audit@example.org",
    ]
    mime = parsed_mime(message)
    parts = {part.get_filename(): part for part in mime.walk() if part.get_filename()}
    assert parts["invoice.pdf"].get_content() == b"%PDF-1.4 fake"
    assert parts["logo.png"]["Content-ID"] == "<logo>"
    assert parts["logo.png"].get_content() == PNG


def test_the_django_backend_raises_on_a_refused_item(django_backend, live_tenant):
    good = PostmarkEmailMultiAlternatives(
        subject="ok", body="ok", from_email=live_tenant.sender, to=["a@example.org"]
    )
    bad = PostmarkEmailMultiAlternatives(
        subject="bad", body="bad", from_email=live_tenant.sender, to=["b@localhost"]
    )
    with pytest.raises(PostmarkerException) as caught:
        django_backend.send_messages([good, bad])
    assert "[300] Invalid 'To' address: 'b@localhost'." in str(caught.value)
    assert Message.objects.count() == 1
