"""Arbitrary SMTP command sequences over a real socket: every reply is a
well-formed SMTP reply, the edge never falls into its "local error" path, and
a ``250 ... queued as <id>`` always means a stored message."""

# ruff: noqa: F811 - the socket fixtures are imported from test_smtpd_sockets

from __future__ import annotations

import base64
import re
import socket

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from messages.models import Message

from .test_smtpd_sockets import (  # noqa: F401 (fixtures)
    start_server,
    tenant,
    tls_context,
)

pytestmark = pytest.mark.django_db(transaction=True)

REPLY = re.compile(rb"^[2-5]\d\d[ -]")

addresses = st.sampled_from(
    [
        "<alice@example.org>",
        "<SENDER>",
        "<>",
        "<a@b>",
        "alice@example.org",
        "<\xe9@example.org>",
        "<x@[127.0.0.1]>",
        "<" + "a" * 300 + "@example.org>",
        "<a@example.org> SIZE=999999999",
        "<a@example.org> BODY=8BITMIME SMTPUTF8",
        "<a@example.org> FOO=BAR",
    ]
)
payload_parts = st.sampled_from(
    [
        b"From: Acme <SENDER>\r\n",
        b"To: alice@example.org\r\n",
        b"Subject: \xff\xfe\x00\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"\r\n",
        b"--b\r\n",
        b"..leading dot\r\n",
        b"bare\nlf\n",
        b"x" * 1200 + b"\r\n",
        b"body\r\n",
    ]
)
commands = st.one_of(
    st.sampled_from(
        [
            b"EHLO fuzz.example",
            b"HELO fuzz.example",
            b"EHLO",
            b"RSET",
            b"NOOP",
            b"VRFY alice",
            b"EXPN list",
            b"HELP",
            b"STARTTLS junk",
            b"AUTH PLAIN !!!notbase64",
            b"AUTH PLAIN " + base64.b64encode(b"\0a\0b"),
            b"AUTH CRAM-MD5",
            b"DATA",
            b"BDAT 10 LAST",
            b"\xff\xfe\x00",
            b"",
            b"MAIL",
            b"RCPT",
            b"A" * 2000,
        ]
    ),
    addresses.map(lambda a: b"MAIL FROM:" + a.encode()),
    addresses.map(lambda a: b"RCPT TO:" + a.encode()),
    st.lists(payload_parts, max_size=6).map(lambda parts: (b"<DATA>", b"".join(parts))),
    # A whole transaction with a plausible head, so random bytes reach storage.
    st.lists(payload_parts, max_size=6).map(
        lambda parts: (
            b"<TXN>",
            b"From: Acme <SENDER>\r\nTo: alice@example.org\r\n" + b"".join(parts),
        )
    ),
)


def read_reply(sock: socket.socket, buffer: bytearray) -> list[bytes] | None:
    """Lines of one reply (up to the ``ddd `` line); None when the peer closed."""
    lines = []
    while True:
        while b"\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer.extend(chunk)
        line, _, rest = bytes(buffer).partition(b"\r\n")
        buffer[:] = rest
        lines.append(line)
        if line[3:4] != b"-":
            return lines


@pytest.fixture
def fuzz_server(start_server):
    return start_server(allow_loopback_plaintext=True, auth_failures_per_ip=0)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(login=st.booleans(), script=st.lists(commands, max_size=8))
def test_any_command_sequence_gets_well_formed_replies(
    fuzz_server, tenant, login, script
):
    sender = tenant.sender.encode()
    buffer = bytearray()
    with socket.create_connection(("127.0.0.1", fuzz_server.port), timeout=10) as sock:
        assert read_reply(sock, buffer)[0].startswith(b"220 ")
        prelude = [b"EHLO fuzz.example"]
        if login:
            blob = base64.b64encode(
                f"\0{tenant.server_token}\0{tenant.server_token}".encode()
            )
            prelude.append(b"AUTH PLAIN " + blob)
        steps: list = []
        for step in [*prelude, *script, b"QUIT"]:
            if isinstance(step, tuple) and step[0] == b"<TXN>":
                steps += [
                    b"MAIL FROM:<SENDER>",
                    b"RCPT TO:<alice@example.org>",
                    (b"<DATA>", step[1]),
                ]
            else:
                steps.append(step)
        for step in steps:
            if isinstance(step, tuple):  # DATA with a payload
                sock.sendall(b"DATA\r\n")
                reply = read_reply(sock, buffer)
                if reply is None:
                    return
                check(reply)
                if not reply[-1].startswith(b"354"):
                    continue
                body = step[1].replace(b"SENDER", sender)
                stuffed = b"\r\n".join(
                    b"." + line if line.startswith(b".") else line
                    for line in body.split(b"\r\n")
                )
                if not stuffed.endswith(b"\r\n"):
                    stuffed += b"\r\n"
                sock.sendall(stuffed + b".\r\n")
            else:
                sock.sendall(step.replace(b"SENDER", sender) + b"\r\n")
            reply = read_reply(sock, buffer)
            if reply is None:
                return  # the server closed after a 421: allowed
            check(reply)
            event(f"reply {reply[-1][:3].decode()}")
            last = reply[-1].decode("utf-8", "replace")
            if last.startswith("250 2.0.0 OK: queued as "):
                message_id = last.removeprefix("250 2.0.0 OK: queued as ")
                message_id = message_id.split()[0].rstrip(";")
                assert Message.objects.filter(message_id=message_id).count() == 1
                event("a message was queued")
            if last.startswith("421") or last.startswith("221"):
                return


def check(reply: list[bytes]) -> None:
    for line in reply:
        assert REPLY.match(line), reply
    assert not reply[-1].startswith(b"451 4.3.0 Local error"), reply
    assert b"Traceback" not in b"".join(reply)
