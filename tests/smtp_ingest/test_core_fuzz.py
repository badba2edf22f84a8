"""Property-based tests of the SMTP edge's core: arbitrary envelopes, credentials
and DATA payloads (broken MIME, 8-bit and NUL bytes, bare LF, invalid UTF-8,
huge headers) never raise, every reply is a well-formed SMTP reply, and a
``250 ... queued as <id>`` means exactly one stored message with that id."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bounces.models import Bounce
from messages.archive import archive_get
from messages.models import Message
from smtp_ingest import core

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ENHANCED = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


def assert_well_formed(reply: core.Reply) -> None:
    assert 200 <= reply.code < 600, reply
    assert ENHANCED.match(reply.status), reply
    assert str(reply.code)[0] == reply.status[0], reply
    assert "\r" not in reply.text and "\n" not in reply.text, reply
    assert "Traceback" not in reply.text


SENDER = "SENDER"  # replaced by the tenant's address
header_names = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Bcc",
        "Reply-To",
        "Subject",
        "Message-ID",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
        "X-PM-Tag",
        "X-PM-Metadata-k",
        "X-PM-Message-Stream",
        "X-PM-TrackOpens",
        "X-PM-KeepID",
        "X-Custom",
        "From ",
        "",
    ]
)
nasty_bytes = st.sampled_from(
    [
        b"",
        b"\x00",
        b"\xff\xfe",
        b"\xc3\x28",
        b"\xe9t\xe9",
        b"\r",
        b"\n",
        b"\r\n",
        b"\r\n ",
        b"=?utf-8?b?w6k=?=",
        b"=?bogus?q?x?=",
        b"<script>",
        b"'; DROP TABLE mail_message; --",
        b"\r\nBcc: victim@example.org",
        b"x" * 2000,
        b"A" * 70_000,
    ]
)
values = st.lists(nasty_bytes | st.binary(max_size=30), max_size=4).map(b"".join)
header_value = st.one_of(
    values,
    st.sampled_from(
        [
            b"Acme <SENDER>",
            b"SENDER",
            b"alice@example.org",
            b"multipart/mixed; boundary=b",
            b'multipart/alternative; boundary="unterminated',
            b"multipart/mixed",
            b"text/plain; charset=x-unknown",
            b"base64",
            b"quoted-printable",
        ]
    ),
)
header_line = st.tuples(header_names, header_value, st.sampled_from([b"\r\n", b"\n"]))
body_part = st.one_of(
    values,
    st.sampled_from(
        [
            b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n",
            b"--b\r\nContent-Type: application/pdf; name=x.pdf\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64\r\n",
            b"--b--\r\n",
            b"--b",
            b"--other\r\n\r\n",
            b"\x00\x00\x00",
            b"line with bare LF\nnext\n",
        ]
    ),
)


@st.composite
def payloads(draw) -> bytes:
    base = draw(st.booleans())
    lines = []
    if base:  # mostly valid head, so the random bytes reach the deep checks
        lines += [b"From: Acme <SENDER>\r\n", b"To: alice@example.org\r\n"]
    for name, value, end in draw(st.lists(header_line, max_size=6)):
        lines.append(name.encode() + b": " + value + end)
    lines.append(draw(st.sampled_from([b"\r\n", b"\n", b""])))
    lines += draw(st.lists(body_part, max_size=5))
    return b"".join(lines)


def _sender_bytes(tenant) -> bytes:
    return tenant.sender.encode()


@FUZZ
@given(
    data=payloads(),
    rcpts=st.lists(
        st.sampled_from(
            ["alice@example.org", "bob@example.org", "x@localhost", "Ω@例え.jp"]
        ),
        min_size=1,
        max_size=3,
        unique=True,
    ),
)
def test_any_data_payload_gets_a_valid_reply_and_250_means_stored_once(
    tenant, data, rcpts
):
    data = data.replace(b"SENDER", _sender_bytes(tenant))
    bounces_before = Bounce.objects.count()
    reply = core.submit(
        server=tenant.server, mail_from=tenant.sender, rcpt_tos=rcpts, data=data
    )
    assert_well_formed(reply)
    # Bad content is never a temporary failure: the client would retry forever.
    assert reply.code == 250, reply
    if reply.text.startswith("OK: queued as "):
        message_id = reply.text.removeprefix("OK: queued as ").split(";")[0]
        message_id = message_id.split(" ")[0]
        message = Message.objects.get(message_id=message_id)  # exactly one
        assert archive_get(key=message.archive_key)
    else:
        assert reply.text.startswith("Accepted but not sent: "), reply
        ids = re.search(r"SMTPApiError bounce ID ([\d, ]+)\)$", reply.text)
        assert ids, reply
        wanted = [int(i) for i in ids[1].split(", ")]
        assert Bounce.objects.filter(id__in=wanted).count() == len(wanted)
        assert Bounce.objects.count() == bounces_before + len(wanted)


@FUZZ
@given(address=st.text(max_size=80) | st.sampled_from(["<>", "a@b", "@", "a@@b"]))
def test_any_envelope_address_gets_250_or_553(address):
    for reply in (
        core.check_sender(address),
        core.check_recipient(address, accepted=0),
    ):
        assert_well_formed(reply)
        assert reply.code in (250, 553), reply
    assert core.check_recipient(address, accepted=50).code == 452


@FUZZ
@given(user=st.binary(max_size=60) | st.text(max_size=60), same=st.booleans())
def test_any_credentials_get_235_or_535(tenant, user, same):
    password = user if same else b"x" + (user if isinstance(user, bytes) else b"")
    outcome = core.authenticate(username=user, password=password)
    assert_well_formed(outcome.reply)
    assert outcome.reply.code == 535
    assert outcome.server is None


# --- the bugs the fuzzer found, pinned -------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        b"Subject: nul \x00 inside\r\n",
        b"Subject: 8-bit \xff\xfe not UTF-8\r\n",
        b"Subject: " + b"s" * 5000 + b"\r\n",
        b"X-PM-Tag: " + b"t" * 3000 + b"\r\n",
    ],
    ids=["nul", "invalid-utf8", "huge-subject", "huge-tag"],
)
def test_a_refused_message_with_unstorable_headers_is_still_recorded(tenant, head):
    """A message refused for its From (no From here) whose other headers hold
    NUL, undecodable bytes or over-long values was answered 451 (the bounce
    insert failed), so the client retried it forever."""
    data = b"To: alice@example.org\r\n" + head + b"\r\nbody\r\n"
    reply = core.submit(
        server=tenant.server,
        mail_from=tenant.sender,
        rcpt_tos=["alice@example.org"],
        data=data,
    )
    assert_well_formed(reply)
    assert reply.code == 250 and reply.text.startswith("Accepted but not sent"), reply
    bounce = Bounce.objects.get()
    assert "\x00" not in bounce.subject
    dump = archive_get(key=bounce.dump_key)  # the raw copy (X-PM-* stripped)
    assert dump.startswith(b"To: alice@example.org\r\n")
    assert dump.endswith(b"\r\nbody\r\n")
    if not head.startswith(b"X-PM-"):
        assert dump == data


def test_a_from_with_an_encoded_word_and_a_bare_lf_is_answered_not_crashing(tenant):
    """``email.headerregistry`` raised AttributeError on this From (a bare LF
    inside the field unfolds it into a group with an encoded word), which
    failed every message committed in the same batch with 451."""
    data = b"From: =?utf-8?b?w6k=?=\nFrom: multipart/mixed; boundary=b\r\n\r\n"
    reply = core.submit(
        server=tenant.server,
        mail_from=tenant.sender,
        rcpt_tos=["alice@example.org"],
        data=data,
    )
    assert_well_formed(reply)
    assert reply.code == 250, reply


def test_a_cr_or_lf_in_an_envelope_address_cannot_forge_a_reply_line():
    reply = core.check_recipient("a@b\r\n250 fake", accepted=0)
    assert reply.code == 553
    assert "\r" not in str(reply) and "\n" not in str(reply)
