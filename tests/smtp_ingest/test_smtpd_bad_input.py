"""Bad input at the SMTP edge over real sockets: malformed MIME, 8-bit and NUL
bytes, bare LF and huge headers are answered (never a 451 that the client
would retry forever) and stored; token guessing is limited per client IP
across connections; slow clients are cut and cannot take every slot."""

# ruff: noqa: F811 - the socket fixtures are imported from test_smtpd_sockets

from __future__ import annotations

import base64
import smtplib
import socket
import time

import pytest
import redis
from django.conf import settings

from bounces.models import Bounce
from messages.archive import archive_get
from messages.models import Message

from .test_smtpd_sockets import (  # noqa: F401 (fixtures)
    start_server,
    tenant,
    tls_context,
)

pytestmark = pytest.mark.django_db(transaction=True)


def plain_session(server, token: str | None = None) -> smtplib.SMTP:
    """A plaintext loopback session (the server allows AUTH without TLS there)."""
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
    client.ehlo("client.example")
    if token is not None:
        client.login(token, token)
    return client


def send_raw(client: smtplib.SMTP, sender: str, data: bytes) -> tuple[int, bytes]:
    """DATA with exactly these bytes (smtplib would rewrite bare LFs)."""
    assert client.mail(sender)[0] == 250
    assert client.rcpt("alice@example.org")[0] == 250
    code, _ = client.docmd("DATA")
    assert code == 354
    stuffed = b"\r\n".join(
        b"." + line if line.startswith(b".") else line for line in data.split(b"\r\n")
    )
    client.sock.sendall(
        stuffed + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n"
    )
    return client.getreply()


HEAD = b"From: Acme <SENDER>\r\nTo: alice@example.org\r\n"
PAYLOADS = {
    "bare-lf": b"From: Acme <SENDER>\nTo: alice@example.org\nSubject: lf\n\nbody\nmore\n",
    "nul-in-body": HEAD + b"Subject: nul\r\n\r\nbefore\x00after\r\n",
    "nul-in-subject": HEAD + b"Subject: a\x00b\r\n\r\nbody\r\n",
    "latin1-subject": HEAD + b"Subject: caf\xe9 cr\xe8me\r\n\r\nbody\r\n",
    "invalid-utf8-from": b"From: \xff\xfe <SENDER>\r\nTo: alice@example.org\r\n\r\nx\r\n",
    "broken-boundary": HEAD
    + b'Content-Type: multipart/mixed; boundary="zzz"\r\n\r\n'
    + b"--zzz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--zz\r\n",
    "no-headers": b"\r\njust a body\r\n",
    "no-from": b"To: alice@example.org\r\nSubject: who\r\n\r\nbody\r\n",
    "huge-header": HEAD
    + b"X-Big: "
    + b"\r\n ".join([b"v" * 900] * 300)  # ~270 KB, folded: lines stay < 1000
    + b"\r\n\r\nbody\r\n",
    "sql-and-script": HEAD
    + b"Subject: '; DROP TABLE mail_message; -- <script>x</script>\r\n"
    + b"X-PM-Tag: ' OR 1=1 --\r\n\r\nbody\r\n",
}


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_malformed_submissions_are_answered_250_and_stored(start_server, tenant, name):
    server = start_server(allow_loopback_plaintext=True)
    data = PAYLOADS[name].replace(b"SENDER", tenant.sender.encode())
    with plain_session(server, tenant.server_token) as client:
        code, reply = send_raw(client, tenant.sender, data)
        assert code == 250, (name, reply)
        text = reply.decode()
        if text.startswith("2.0.0 OK: queued as "):
            message_id = text.removeprefix("2.0.0 OK: queued as ").split()[0]
            message = Message.objects.get(message_id=message_id.rstrip(";"))
            raw = archive_get(key=message.archive_key)
            body = data.split(b"\r\n\r\n", 1)[-1].split(b"\n\n", 1)[-1]
            assert body in raw  # the body byte for byte, bare LFs and all
        else:
            assert text.startswith("2.0.0 Accepted but not sent: "), text
            assert Bounce.objects.filter(server=tenant.server).exists()
        assert client.noop()[0] == 250  # the session goes on


def test_sql_looking_subjects_are_stored_literally(start_server, tenant):
    server = start_server(allow_loopback_plaintext=True)
    data = PAYLOADS["sql-and-script"].replace(b"SENDER", tenant.sender.encode())
    with plain_session(server, tenant.server_token) as client:
        code, reply = send_raw(client, tenant.sender, data)
    message = Message.objects.get()
    assert message.subject == "'; DROP TABLE mail_message; -- <script>x</script>"
    assert message.tag == "' OR 1=1 --"


def auth_plain(client: smtplib.SMTP, token: str) -> tuple[int, bytes]:
    blob = base64.b64encode(f"\0{token}\0{token}".encode()).decode()
    return client.docmd("AUTH", "PLAIN " + blob)


def test_auth_failures_from_one_ip_are_limited_across_connections(start_server, tenant):
    server = start_server(
        allow_loopback_plaintext=True, max_auth_failures=3, auth_failures_per_ip=4
    )
    for _ in range(2):  # two connections, two wrong guesses each (under 3)
        with plain_session(server) as client:
            assert auth_plain(client, "wrong-guess")[0] == 535
            assert auth_plain(client, "wrong-guess-2")[0] == 535
    with plain_session(server) as client:
        # Even the right token: a blocked address cannot test guesses.
        code, reply = auth_plain(client, tenant.server_token)
        assert (code, reply[:5]) == (421, b"4.7.0")
        assert b"from your address" in reply
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()


def test_the_auth_failure_limit_is_shared_through_redis(start_server, tenant):
    key = "smtpd:authfail:127.0.0.1"
    store = redis.Redis.from_url(settings.REDIS_URL)
    store.delete(key)
    try:
        first = start_server(
            allow_loopback_plaintext=True,
            redis_url=settings.REDIS_URL,
            auth_failures_per_ip=2,
        )
        second = start_server(
            allow_loopback_plaintext=True,
            redis_url=settings.REDIS_URL,
            auth_failures_per_ip=2,
        )
        with plain_session(first) as client:
            assert auth_plain(client, "guess-1")[0] == 535
            assert auth_plain(client, "guess-2")[0] == 535
        assert 0 < store.ttl(key) <= settings.SMTPD_AUTH_FAILURE_WINDOW_SECONDS
        with plain_session(second) as client:  # another process, same client IP
            assert auth_plain(client, tenant.server_token)[0] == 421
    finally:
        store.delete(key)


def greeting(
    host: str, port: int, source: str = "127.0.0.1"
) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection((host, port), timeout=5, source_address=(source, 0))
    return sock, sock.recv(1000)


def test_slow_clients_from_one_address_cannot_take_every_slot(start_server):
    server = start_server(max_connections=4, max_connections_per_ip=2, idle_timeout=1)
    slow = []
    for _ in range(2):
        sock, hello = greeting("127.0.0.1", server.port)
        assert hello.startswith(b"220 ")
        sock.sendall(b"EHLO sl")  # trickles, never finishes the line
        slow.append(sock)
    extra, hello = greeting("127.0.0.1", server.port)
    assert hello.startswith(b"421 4.3.2 Too many connections from your address")
    extra.close()
    # Another client still gets in while the slow ones hold their slots.
    other, hello = greeting("127.0.0.1", server.port, source="127.0.0.2")
    assert hello.startswith(b"220 ")
    other.close()
    # The idle timeout cuts the slow ones, within a bound, and frees their slots.
    started = time.monotonic()
    for sock in slow:
        data = b""
        while chunk := sock.recv(1000):
            data += chunk
        assert data.startswith(b"421 4.4.2 ")
        sock.close()
    assert time.monotonic() - started < 3
    time.sleep(0.1)
    again, hello = greeting("127.0.0.1", server.port)
    assert hello.startswith(b"220 ")
    again.close()


def test_a_trickled_data_transfer_is_cut_by_the_data_timeout(start_server, tenant):
    server = start_server(
        allow_loopback_plaintext=True, idle_timeout=5, data_timeout=1.0
    )
    client = plain_session(server, tenant.server_token)
    assert client.mail(tenant.sender)[0] == 250
    assert client.rcpt("alice@example.org")[0] == 250
    assert client.docmd("DATA")[0] == 354
    client.sock.sendall(b"From: Acme <" + tenant.sender.encode() + b">\r\n")
    started = time.monotonic()
    reply = b""
    client.sock.settimeout(0.2)
    while time.monotonic() - started < 6:
        try:
            client.sock.sendall(b"x\r\n")  # one line every 0.2 s: never idle
            chunk = client.sock.recv(1000)
            if not chunk:
                break
            reply += chunk
        except TimeoutError:
            continue
        except OSError:
            break
    elapsed = time.monotonic() - started
    assert reply.startswith(b"421 4.4.2 "), reply
    assert elapsed < 2.5, elapsed  # the whole transfer's deadline, not per line
    assert Message.objects.count() == 0  # nothing half-received is stored
    client.close()
