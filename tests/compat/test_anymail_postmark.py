"""Unmodified django-anymail Postmark backend against our live server; only
``POSTMARK_API_URL`` differs from talking to Postmark itself."""

from __future__ import annotations

import base64
from email import policy
from email.parser import BytesParser

import pytest
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from anymail.message import AnymailMessage
from django.core.mail import get_connection

from messages.archive import archive_get
from messages.models import Message

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def connection(live_server, live_tenant, settings):
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": live_tenant.server_token,
        "POSTMARK_API_URL": live_server.url + "/",
    }
    return get_connection("anymail.backends.postmark.EmailBackend")


def make_message(tenant, connection, **kwargs) -> AnymailMessage:
    defaults = {
        "subject": "Hello",
        "body": "Plain",
        "from_email": f"Acme <{tenant.sender}>",
        "to": ["alice@example.org"],
        "connection": connection,
    }
    defaults.update(kwargs)
    return AnymailMessage(**defaults)


def test_a_send_with_tag_metadata_and_attachments_is_sent(connection, live_tenant):
    message = make_message(
        live_tenant,
        connection,
        cc=["carol@example.org"],
        reply_to=["help@acme.example.com"],
        headers={"X-Campaign": "spring"},
        tags=["welcome"],
        metadata={"user_id": "42"},
        track_clicks=True,
        track_opens=True,
    )
    cid = message.attach_inline_image(PNG, filename="logo.png")
    message.attach_alternative(f'<p>Hi</p><img src="cid:{cid}">', "text/html")
    message.attach("notes.txt", "some notes", "text/plain")
    assert message.send() == 1
    status = message.anymail_status
    assert status.status == {"sent"}
    assert status.recipients["alice@example.org"].status == "sent"
    assert status.recipients["carol@example.org"].status == "sent"
    stored = Message.objects.get(message_id=status.message_id)
    assert stored.tag == "welcome"
    assert stored.metadata == {"user_id": "42"}
    assert stored.track_links == "HtmlAndText"
    assert stored.track_opens is True
    mime = BytesParser(policy=policy.default).parsebytes(
        archive_get(key=stored.archive_key)
    )
    assert mime["X-Campaign"] == "spring"
    assert mime["Reply-To"].addresses[0].addr_spec == "help@acme.example.com"
    parts = {part.get_filename(): part for part in mime.walk() if part.get_filename()}
    assert parts["notes.txt"].get_content() == "some notes"
    assert parts["logo.png"]["Content-ID"] == f"<{cid}>"
    assert parts["logo.png"].get_content() == PNG


def test_merge_metadata_sends_a_batch_with_one_message_id_per_recipient(
    connection, live_tenant
):
    message = make_message(
        live_tenant,
        connection,
        to=["one@example.org", "Two <two@example.org>"],
        merge_metadata={
            "one@example.org": {"n": "1"},
            "two@example.org": {"n": "2"},
        },
    )
    message.send()
    recipients = message.anymail_status.recipients
    assert recipients["one@example.org"].status == "sent"
    assert recipients["two@example.org"].status == "sent"
    first = Message.objects.get(message_id=recipients["one@example.org"].message_id)
    second = Message.objects.get(message_id=recipients["two@example.org"].message_id)
    assert first.metadata == {"n": "1"}
    assert second.metadata == {"n": "2"}
    assert second.to_header == "Two <two@example.org>"


def test_an_invalid_recipient_raises_recipients_refused(connection, live_tenant):
    message = make_message(live_tenant, connection, to=["alice@localhost"])
    with pytest.raises(AnymailRecipientsRefused):
        message.send()
    assert message.anymail_status.recipients["alice@localhost"].status == "invalid"
    assert Message.objects.count() == 0


def test_a_partly_invalid_list_still_refuses_and_marks_the_bad_address(
    connection, live_tenant
):
    message = make_message(
        live_tenant, connection, to=["ok@example.org"], cc=["bad@localhost"]
    )
    message.send(fail_silently=True)
    assert message.anymail_status.recipients["bad@localhost"].status == "invalid"


def test_a_sender_of_another_account_raises_an_api_error(
    connection, live_tenant, live_other_tenant
):
    message = make_message(live_tenant, connection, from_email=live_other_tenant.sender)
    with pytest.raises(AnymailAPIError) as caught:
        message.send()
    assert "is not a Sender Signature" in str(caught.value)


def test_a_missing_body_raises_an_api_error(connection, live_tenant):
    message = make_message(live_tenant, connection, body="")
    with pytest.raises(AnymailAPIError) as caught:
        message.send()
    assert "Provide either email TextBody or HtmlBody or both." in str(caught.value)


def test_a_bad_token_raises_an_api_error_with_status_401(
    live_server, live_tenant, settings
):
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "wrong",
        "POSTMARK_API_URL": live_server.url + "/",
    }
    connection = get_connection("anymail.backends.postmark.EmailBackend")
    message = make_message(live_tenant, connection)
    with pytest.raises(AnymailAPIError) as caught:
        message.send()
    assert caught.value.status_code == 401
    assert "valid Server token" in str(caught.value)
