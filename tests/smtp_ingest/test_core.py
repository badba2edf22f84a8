"""Unit tests of the SMTP submission core: no sockets, real database and archive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from accounts.models import Server
from bounces.models import Bounce
from bounces.services import suppression_add
from messages.archive import archive_get
from messages.models import Message, Recipient
from smtp_ingest import core
from smtp_ingest.handler import SubmissionHandler
from smtp_ingest.ratelimit import LocalBucket

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


def mime(
    tenant, *, extra: str = "", body: str = "Hello there.\r\n", **headers
) -> bytes:
    fields = {
        "From": f"Acme <{tenant.sender}>",
        "To": "Alice <alice@example.org>",
        "Subject": "Hi",
        "Message-ID": "<client-123@client.example>",
    }
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v is not None)
    return (head + extra + "\r\n" + body).encode()


def submit(tenant, data: bytes, rcpts=("alice@example.org",)) -> core.Reply:
    return core.submit(
        server=tenant.server,
        mail_from=tenant.sender,
        rcpt_tos=list(rcpts),
        data=data,
    )


def queued_id(reply: core.Reply) -> str:
    assert reply.code == 250, reply
    assert reply.text.startswith("OK: queued as "), reply
    return reply.text.removeprefix("OK: queued as ").split(";")[0].split(" ")[0]


# --- authentication --------------------------------------------------------------
def test_a_server_token_as_username_and_password_authenticates(tenant):
    outcome = core.authenticate(
        username=tenant.server_token.encode(), password=tenant.server_token.encode()
    )
    assert outcome.server == tenant.server
    assert str(outcome.reply) == "235 2.7.0 Authentication successful"


def test_an_account_token_is_refused(tenant):
    outcome = core.authenticate(
        username=tenant.account_token, password=tenant.account_token
    )
    assert outcome.server is None
    assert str(outcome.reply) == "535 5.7.8 Authentication credentials invalid"


def test_a_password_different_from_the_username_is_refused(tenant, other_tenant):
    outcome = core.authenticate(
        username=tenant.server_token, password=other_tenant.server_token
    )
    assert outcome.server is None
    assert outcome.reply.code == 535


def test_the_test_token_and_garbage_are_refused(tenant):
    for value in (b"POSTMARK_API_TEST", b"\xff\xfe", b""):
        assert core.authenticate(username=value, password=value).server is None


def test_a_server_with_smtp_disabled_is_refused(tenant):
    Server.objects.filter(id=tenant.server.id).update(smtp_api_activated=False)
    outcome = core.authenticate(
        username=tenant.server_token, password=tenant.server_token
    )
    assert outcome.server is None
    assert outcome.reply.code == 535
    assert "SMTP is disabled" in outcome.reply.text


# --- envelope checks ----------------------------------------------------------------
def test_envelope_addresses_with_bad_syntax_get_553():
    assert str(core.check_sender("no-at-sign")).startswith("553 5.1.7")
    assert str(core.check_recipient("a@localhost", accepted=0)).startswith("553 5.1.3")
    assert core.check_recipient("a@example.org", accepted=0).code == 250


def test_the_fifty_first_recipient_gets_452():
    assert core.check_recipient("a@example.org", accepted=49).code == 250
    assert str(core.check_recipient("a@example.org", accepted=50)) == (
        "452 4.5.3 Too many recipients; at most 50 per message"
    )


# --- parsing --------------------------------------------------------------------------
def test_it_reads_and_strips_postmark_headers_keeping_the_rest_byte_for_byte(tenant):
    data = mime(
        tenant,
        extra=(
            "X-PM-Message-Stream: outbound\r\n"
            "X-PM-Tag: welcome\r\n"
            "X-PM-Metadata-user-id: 42\r\n"
            "x-pm-metadata-Plan: gold\r\n"
            "X-PM-TrackOpens: true\r\n"
            "X-PM-TrackLinks: HtmlOnly\r\n"
            "X-PM-KeepID: true\r\n"
            "Bcc: hidden@example.org\r\n"
            "X-Custom: kept\r\n"
        ),
        body="Line one\r\n.dot line\r\n",
    )
    parsed = core.parse_submission(
        data=data, envelope_recipients=["alice@example.org", "hidden@example.org"]
    )
    email = parsed.email
    assert email.message_stream == "outbound"
    assert email.tag == "welcome"
    assert email.metadata == {"user-id": "42", "Plan": "gold"}
    assert email.track_opens is True
    assert email.track_links == "HtmlOnly"
    assert email.keep_message_id is True
    assert email.bcc == "hidden@example.org"
    assert b"X-PM-" not in email.raw and b"x-pm-" not in email.raw
    assert b"Bcc:" not in email.raw
    assert b"X-Custom: kept\r\n" in email.raw
    assert email.raw.endswith(b"\r\n\r\nLine one\r\n.dot line\r\n")
    assert parsed.error is None and parsed.defects == []


def test_folded_headers_stay_folded_and_folded_control_headers_are_read(tenant):
    data = mime(
        tenant,
        Subject="A long subject line that a client\r\n folded onto two lines",
        extra="X-PM-Tag:\r\n folded-tag\r\nX-PM-Metadata-note: one\r\n\ttwo\r\n",
    )
    email = core.parse_submission(
        data=data, envelope_recipients=["alice@example.org"]
    ).email
    assert email.subject == "A long subject line that a client folded onto two lines"
    assert email.tag == "folded-tag"
    assert email.metadata == {"note": "one\ttwo"}
    assert (
        b"Subject: A long subject line that a client\r\n folded onto two lines\r\n"
        b"Message-ID:" in email.raw
    )
    assert b"folded-tag" not in email.raw and b"X-PM" not in email.raw
    assert email.raw.count(b"\r\n\r\n") == 1


def test_envelope_recipients_missing_from_to_and_cc_are_bcc(tenant):
    data = mime(tenant, Cc="Bob <BOB@example.org>")
    parsed = core.parse_submission(
        data=data,
        envelope_recipients=["alice@example.org", "bob@example.org", "eve@example.org"],
    )
    assert parsed.email.bcc == "eve@example.org"


def test_encoded_subject_and_display_names_are_decoded(tenant):
    data = mime(
        tenant,
        Subject="=?utf-8?q?Caf=C3=A9_menu?=",
        To="=?utf-8?q?Doe=2C_J=C3=BCrgen?= <alice@example.org>",
    )
    email = core.parse_submission(
        data=data, envelope_recipients=["alice@example.org"]
    ).email
    assert email.subject == "Café menu"
    assert email.to == '"Doe, Jürgen" <alice@example.org>'
    assert email.bcc == ""


def test_duplicate_metadata_keys_get_a_numeric_suffix(tenant):
    data = mime(tenant, extra="X-PM-Metadata-k: a\r\nX-PM-Metadata-k: b\r\n")
    email = core.parse_submission(data=data, envelope_recipients=[]).email
    assert email.metadata == {"k": "a", "k2": "b"}


# --- submit -----------------------------------------------------------------------------
def test_an_accepted_message_is_committed_and_its_id_is_in_the_reply(tenant):
    data = mime(
        tenant,
        extra="X-PM-Tag: welcome\r\nX-PM-Metadata-order: 7\r\nX-PM-TrackOpens: true\r\n",
    )
    reply = submit(tenant, data, rcpts=["alice@example.org", "secret@example.org"])
    message = Message.objects.get(message_id=queued_id(reply))
    assert message.server == tenant.server
    assert message.source == Message.Source.SMTP
    assert message.tag == "welcome"
    assert message.metadata == {"order": "7"}
    assert message.track_opens is True
    assert message.bcc_header == "secret@example.org"
    kinds = dict(Recipient.objects.filter(message=message).values_list("email", "kind"))
    assert kinds == {"alice@example.org": "to", "secret@example.org": "bcc"}
    raw = archive_get(key=message.archive_key)
    assert b"X-PM-Tag" not in raw and b"X-PM-Metadata" not in raw
    assert f"X-PM-Message-Id: {message.message_id}".encode() in raw
    # Our Message-ID replaces the client's unless X-PM-KeepID asks otherwise.
    assert b"client-123@client.example" not in raw


def test_keep_id_keeps_the_clients_message_id(tenant):
    reply = submit(tenant, mime(tenant, extra="X-PM-KeepID: true\r\n"))
    message = Message.objects.get(message_id=queued_id(reply))
    assert message.header_message_id == "client-123@client.example"


def test_a_from_domain_not_on_the_account_is_answered_250_and_recorded(
    tenant, other_tenant
):
    data = mime(tenant, From=f"Globex <{other_tenant.sender}>", extra="X-PM-Tag: t\r\n")
    reply = submit(tenant, data, rcpts=["alice@example.org", "bob@example.org"])
    assert reply.code == 250
    assert reply.text.startswith("Accepted but not sent: ErrorCode 400: The 'From'")
    assert Message.objects.count() == 0
    bounces = Bounce.objects.filter(server=tenant.server).order_by("email")
    assert [b.email for b in bounces] == ["alice@example.org", "bob@example.org"]
    bounce = bounces[0]
    assert (bounce.type, bounce.type_code) == ("SMTPApiError", 100007)
    assert bounce.message is None
    assert bounce.from_header == f"Globex <{other_tenant.sender}>"
    assert (bounce.subject, bounce.tag) == ("Hi", "t")
    assert "is not a Sender Signature" in bounce.details
    # The submission is kept as the bounce dump, X-PM headers already stripped.
    dump = archive_get(key=bounce.dump_key)
    assert dump.endswith(b"\r\n\r\nHello there.\r\n") and b"X-PM-Tag" not in dump
    assert not Bounce.objects.filter(server=other_tenant.server).exists()


def test_an_unknown_stream_becomes_an_smtp_api_error(tenant):
    reply = submit(tenant, mime(tenant, extra="X-PM-Message-Stream: nope\r\n"))
    assert reply.code == 250 and "ErrorCode 1235" in reply.text
    bounce = Bounce.objects.get(server=tenant.server)
    assert bounce.type == "SMTPApiError" and bounce.message_stream == "nope"


def test_an_invalid_x_pm_header_value_becomes_an_smtp_api_error(tenant):
    reply = submit(tenant, mime(tenant, extra="X-PM-TrackLinks: sometimes\r\n"))
    assert reply.code == 250 and "Invalid TrackLinks value" in reply.text
    assert Message.objects.count() == 0
    assert Bounce.objects.filter(type="SMTPApiError").count() == 1


def test_a_forbidden_attachment_becomes_an_smtp_api_error(tenant):
    data = (FIXTURES / "exe_attachment.eml").read_bytes()
    data = data.replace(b"sender@acme.example.com", tenant.sender.encode())
    reply = submit(tenant, data)
    assert reply.code == 250 and "ErrorCode 411" in reply.text
    assert "'.exe'" in Bounce.objects.get(server=tenant.server).details
    assert Message.objects.count() == 0


def test_allowed_attachments_are_listed_on_the_message(tenant):
    data = (FIXTURES / "exe_attachment.eml").read_bytes()
    data = data.replace(b"sender@acme.example.com", tenant.sender.encode())
    data = data.replace(b"setup.exe", b"report.pdf")
    message = Message.objects.get(message_id=queued_id(submit(tenant, data)))
    assert message.attachment_names == ["report.pdf"]


def test_a_suppressed_recipient_is_recorded_and_the_others_still_get_it(tenant):
    suppression_add(
        server=tenant.server, message_stream="outbound", emails=["gone@example.org"]
    )
    reply = submit(
        tenant, mime(tenant), rcpts=["alice@example.org", "gone@example.org"]
    )
    message = Message.objects.get(message_id=queued_id(reply))
    assert "not delivered to inactive recipients: gone@example.org" in reply.text
    bounce = Bounce.objects.get(server=tenant.server)
    assert (bounce.type, bounce.email, bounce.message) == (
        "SMTPApiError",
        "gone@example.org",
        message,
    )
    statuses = dict(message.recipients.values_list("email", "status"))
    assert statuses["alice@example.org"] == "queued"
    assert statuses["gone@example.org"] != "queued"


def test_all_recipients_suppressed_means_no_message_and_an_smtp_api_error(tenant):
    suppression_add(
        server=tenant.server, message_stream="outbound", emails=["alice@example.org"]
    )
    reply = submit(tenant, mime(tenant))
    assert reply.code == 250 and "ErrorCode 406" in reply.text
    assert Message.objects.count() == 0
    assert Bounce.objects.get().type_code == 100007


def test_malformed_mime_is_stored_raw_and_reported(tenant):
    data = (FIXTURES / "malformed.eml").read_bytes()
    data = data.replace(b"sender@acme.example.com", tenant.sender.encode())
    reply = submit(tenant, data)
    message = Message.objects.get(message_id=queued_id(reply))
    assert "MIME defects:" in reply.text
    raw = archive_get(key=message.archive_key)
    # Everything after the header block is kept byte for byte.
    assert raw.endswith(data.split(b"\r\n\r\n", 1)[1])


def test_a_message_without_from_is_recorded_with_its_raw_dump(tenant):
    data = b"To: alice@example.org\r\nSubject: no from\r\n\r\nbody\r\n"
    reply = submit(tenant, data)
    assert reply.code == 250 and "Invalid 'From' address" in reply.text
    bounce = Bounce.objects.get()
    assert bounce.subject == "no from"
    assert archive_get(key=bounce.dump_key) == data


def test_a_message_without_any_header_is_recorded(tenant):
    reply = submit(tenant, b"just some text\r\nno headers\r\n")
    assert reply.code == 250 and "ErrorCode 300" in reply.text
    assert Message.objects.count() == 0


def test_the_edge_never_shows_exception_details():
    handler = SubmissionHandler(bucket=LocalBucket(rate=1, burst=1), committer=None)
    error = RuntimeError("password=hunter2 /srv/x.py")
    status = asyncio.run(handler.handle_exception(error))
    assert status == "451 4.3.0 Local error in processing; try again later"
