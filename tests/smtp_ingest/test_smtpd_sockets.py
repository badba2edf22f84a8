"""SMTP submission over real sockets: smtplib against our server on an ephemeral
port, with TLS, AUTH, the real database and the archive."""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
import threading
import time
from email.message import EmailMessage

import pytest

from accounts.models import Server
from bounces.models import Bounce
from messages.archive import archive_get
from messages.models import Message, Recipient
from smtp_ingest.handler import SmtpdConfig
from smtp_ingest.server import ServerThread
from smtp_ingest.tls import dev_certificate, server_context
from tests.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def tls_context(tmp_path_factory) -> ssl.SSLContext:
    cert, key = dev_certificate(
        directory=tmp_path_factory.mktemp("tls"), hostname="smtp.test"
    )
    return server_context(cert=cert, key=key)


@pytest.fixture
def client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # our self-signed development certificate
    return context


@pytest.fixture
def tenant(transactional_db):
    return make_tenant("acme")


@pytest.fixture
def other_tenant(transactional_db):
    return make_tenant("globex")


@pytest.fixture
def start_server(tls_context):
    started: list[ServerThread] = []

    def start(**overrides) -> ServerThread:
        overrides.setdefault("redis_url", "")
        overrides.setdefault("workers", 4)
        config = SmtpdConfig.from_settings(**overrides)
        server = ServerThread(config=config, tls_context=tls_context).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtpd(start_server) -> ServerThread:
    return start_server()


def connect(server: ServerThread, client_tls, token: str | None) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
    client.starttls(context=client_tls)
    client.ehlo()
    if token is not None:
        client.login(token, token)
    return client


def message(tenant, **headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Acme <{tenant.sender}>"
    msg["To"] = "alice@example.org"
    msg["Subject"] = "Hello over SMTP"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Hi Alice,\n\nthis came over SMTP.\n")
    return msg


def wire(msg: EmailMessage) -> bytes:
    """The message as SMTP wants it: CRLF line endings (RFC 5321 §2.3.8)."""
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def send(client: smtplib.SMTP, msg: EmailMessage, rcpts: list[str]) -> tuple[int, str]:
    code, _ = client.mail(msg["From"].addresses[0].addr_spec)
    assert code == 250
    for rcpt in rcpts:
        code, reply = client.rcpt(rcpt)
        assert code == 250, reply
    code, reply = client.data(wire(msg))
    return code, reply.decode()


def message_id_of(reply: str) -> str:
    assert reply.startswith("2.0.0 OK: queued as "), reply
    return reply.removeprefix("2.0.0 OK: queued as ").split()[0].rstrip(";")


def test_starttls_and_auth_plain_deliver_a_committed_message(smtpd, client_tls, tenant):
    with connect(smtpd, client_tls, tenant.server_token) as client:
        code, reply = send(client, message(tenant), ["alice@example.org"])
    assert code == 250
    stored = Message.objects.get(message_id=message_id_of(reply))
    assert stored.server_id == tenant.server.id
    assert stored.subject == "Hello over SMTP"
    raw = archive_get(key=stored.archive_key)
    assert b"this came over SMTP." in raw


def test_implicit_tls_and_auth_login_work(smtpd, client_tls, tenant):
    with smtplib.SMTP_SSL(
        "127.0.0.1", smtpd.tls_port, context=client_tls, timeout=10
    ) as client:
        client.ehlo()
        assert "STARTTLS" not in client.esmtp_features
        client.user = client.password = tenant.server_token
        code, _ = client.auth("LOGIN", client.auth_login)
        assert code == 235
        code, reply = send(client, message(tenant), ["alice@example.org"])
    assert code == 250
    assert Message.objects.filter(message_id=message_id_of(reply)).exists()


def test_it_is_never_an_open_relay(smtpd, client_tls, tenant):
    with connect(smtpd, client_tls, None) as client:
        assert client.mail(tenant.sender) == (
            530,
            b"5.7.0 Authentication required",
        )
        assert client.rcpt("victim@example.org")[0] == 530
        assert client.docmd("DATA")[0] == 530
    assert Message.objects.count() == 0


def test_auth_before_tls_is_refused_with_538(smtpd, tenant):
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=10) as client:
        client.ehlo()
        assert "auth" not in client.esmtp_features
        blob = base64.b64encode(
            f"\0{tenant.server_token}\0{tenant.server_token}".encode()
        )
        code, reply = client.docmd("AUTH", "PLAIN " + blob.decode())
    assert code == 538
    assert reply.startswith(b"5.7.11")


def test_loopback_plaintext_auth_can_be_allowed_for_development(start_server, tenant):
    server = start_server(allow_loopback_plaintext=True)
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        client.login(tenant.server_token, tenant.server_token)
        code, _ = send(client, message(tenant), ["alice@example.org"])
    assert code == 250


def test_bad_credentials_get_535(smtpd, client_tls, tenant):
    with connect(smtpd, client_tls, None) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            client.login("wrong", "wrong")
    assert failed.value.smtp_code == 535
    assert failed.value.smtp_error == b"5.7.8 Authentication credentials invalid"


def test_account_tokens_are_refused_and_repeated_failures_close(
    smtpd, client_tls, tenant
):
    def auth_plain(client, token: str) -> tuple[int, bytes]:
        blob = base64.b64encode(f"\0{token}\0{token}".encode()).decode()
        return client.docmd("AUTH", "PLAIN " + blob)

    with connect(smtpd, client_tls, None) as client:
        assert auth_plain(client, tenant.account_token)[0] == 535
        assert auth_plain(client, "POSTMARK_API_TEST")[0] == 535
        code, reply = auth_plain(client, tenant.server_token + "x")
        assert (code, reply[:5]) == (421, b"4.7.0")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()


def test_another_servers_token_sends_as_that_server_only(
    smtpd, client_tls, tenant, other_tenant
):
    # Globex's token with Acme's From domain: recorded on Globex, nothing sent.
    with connect(smtpd, client_tls, other_tenant.server_token) as client:
        code, reply = send(client, message(tenant), ["alice@example.org"])
    assert code == 250
    assert "ErrorCode 400" in reply
    assert Message.objects.count() == 0
    assert not Bounce.objects.filter(server=tenant.server).exists()
    bounce = Bounce.objects.get(server=other_tenant.server)
    assert (bounce.type, bounce.type_code) == ("SMTPApiError", 100007)


def test_a_foreign_from_domain_becomes_an_smtp_api_error_bounce(
    smtpd, client_tls, tenant
):
    msg = message(tenant)
    msg.replace_header("From", "Mallory <mallory@not-ours.example>")
    with connect(smtpd, client_tls, tenant.server_token) as client:
        code, reply = send(client, msg, ["alice@example.org"])
    assert code == 250 and reply.startswith("2.0.0 Accepted but not sent")
    bounce = Bounce.objects.get(server=tenant.server)
    assert bounce.type == "SMTPApiError"
    assert bounce.email == "alice@example.org"
    assert bounce.from_header == "Mallory <mallory@not-ours.example>"
    assert Message.objects.count() == 0


def test_x_pm_headers_are_honoured_and_stripped_and_bcc_comes_from_the_envelope(
    smtpd, client_tls, tenant
):
    msg = message(
        tenant,
        X_PM_Tag="password-reset",
        X_PM_Metadata_user="42",
        X_PM_TrackLinks="HtmlAndText",
        X_PM_Message_Stream="outbound",
        Cc="carol@example.org",
    )
    rcpts = ["alice@example.org", "carol@example.org", "audit@example.org"]
    with connect(smtpd, client_tls, tenant.server_token) as client:
        code, reply = send(client, msg, rcpts)
    assert code == 250
    stored = Message.objects.get(message_id=message_id_of(reply))
    assert stored.tag == "password-reset"
    assert stored.metadata == {"user": "42"}
    assert stored.track_links == "HtmlAndText"
    assert stored.bcc_header == "audit@example.org"
    kinds = dict(Recipient.objects.filter(message=stored).values_list("email", "kind"))
    assert kinds == {
        "alice@example.org": "to",
        "carol@example.org": "cc",
        "audit@example.org": "bcc",
    }
    raw = archive_get(key=stored.archive_key)
    assert b"X-PM-Tag" not in raw and b"X-PM-Metadata" not in raw
    assert b"X-PM-Message-Stream" not in raw and b"audit@example.org" not in raw


def test_esmtp_extensions_are_advertised(smtpd, client_tls):
    with connect(smtpd, client_tls, None) as client:
        client.ehlo()
        features = client.esmtp_features
    assert features["size"] == "10485760"
    assert "8bitmime" in features and "smtputf8" in features
    assert features["auth"].split() == ["LOGIN", "PLAIN"]


def test_utf8_addresses_and_8bit_bodies_are_accepted(smtpd, client_tls, tenant):
    raw = (
        f"From: Acme <{tenant.sender}>\r\nTo: José <josé@exämple.org>\r\n"
        "Subject: Grüße\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nSchöne Grüße\r\n"
    ).encode()
    with connect(smtpd, client_tls, tenant.server_token) as client:
        client.ehlo()
        code, _ = client.mail(tenant.sender, ["SMTPUTF8", "BODY=8BITMIME"])
        assert code == 250
        assert client.rcpt("josé@exämple.org")[0] == 250
        code, reply = client.data(raw)
    assert code == 250
    stored = Message.objects.get(message_id=message_id_of(reply.decode()))
    assert stored.subject == "Grüße"
    assert stored.recipients_text == "josé@exämple.org"


def test_size_is_enforced_with_552(start_server, client_tls, tenant):
    server = start_server(max_message_bytes=4000)
    with connect(server, client_tls, tenant.server_token) as client:
        client.ehlo()
        assert client.mail(tenant.sender, ["SIZE=5000"])[0] == 552
        client.mail(tenant.sender)
        client.rcpt("alice@example.org")
        msg = message(tenant)
        msg.set_content(("x" * 70 + "\n") * 80)
        code, reply = client.data(wire(msg))
        assert (code, reply[:5]) == (552, b"5.3.4")
        # The session goes on after the refusal.
        code, _ = send(client, message(tenant), ["alice@example.org"])
        assert code == 250
    assert Message.objects.count() == 1


def test_more_than_fifty_recipients_get_452(smtpd, client_tls, tenant):
    with connect(smtpd, client_tls, tenant.server_token) as client:
        client.mail(tenant.sender)
        for i in range(50):
            assert client.rcpt(f"user{i}@example.org")[0] == 250
        assert client.rcpt("user50@example.org") == (
            452,
            b"4.5.3 Too many recipients; at most 50 per message",
        )
        code, reply = client.data(message(tenant).as_bytes())
    assert code == 250
    assert (
        Recipient.objects.filter(
            message__message_id=message_id_of(reply.decode())
        ).count()
        == 50
    )


def test_bad_envelope_syntax_gets_553(smtpd, client_tls, tenant):
    with connect(smtpd, client_tls, tenant.server_token) as client:
        assert client.mail("nobody@localhost")[0] == 553
        client.mail(tenant.sender)
        code, reply = client.rcpt("alice@invalid_domain")
    assert (code, reply[:5]) == (553, b"5.1.3")


def test_the_per_token_rate_limit_answers_451(start_server, client_tls, tenant):
    server = start_server(token_rate=0.01, token_burst=2)
    with connect(server, client_tls, tenant.server_token) as client:
        for _ in range(2):
            assert send(client, message(tenant), ["alice@example.org"])[0] == 250
        code, reply = client.mail(tenant.sender)
    assert (code, reply[:5]) == (451, b"4.7.1")
    assert Message.objects.count() == 2


def test_the_per_token_rate_limit_is_shared_through_redis(
    start_server, client_tls, tenant, settings
):
    import redis

    redis.Redis.from_url(settings.REDIS_URL).delete(
        f"smtpd:rl:server:{tenant.server.id}"
    )
    first = start_server(token_rate=0.01, token_burst=2, redis_url=settings.REDIS_URL)
    second = start_server(token_rate=0.01, token_burst=2, redis_url=settings.REDIS_URL)
    for server in (first, second):
        with connect(server, client_tls, tenant.server_token) as client:
            assert send(client, message(tenant), ["alice@example.org"])[0] == 250
    with connect(second, client_tls, tenant.server_token) as client:
        assert client.mail(tenant.sender)[0] == 451


def test_the_per_connection_message_limit_answers_421_and_closes(
    start_server, client_tls, tenant
):
    server = start_server(max_messages_per_connection=2)
    with connect(server, client_tls, tenant.server_token) as client:
        for _ in range(2):
            assert send(client, message(tenant), ["alice@example.org"])[0] == 250
        code, reply = client.mail(tenant.sender)
        assert (code, reply[:5]) == (421, b"4.7.0")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()


def test_idle_and_slow_clients_are_timed_out_with_421(start_server):
    server = start_server(idle_timeout=0.5, data_timeout=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        greeting = sock.recv(1000)
        assert greeting.startswith(b"220 ")
        sock.sendall(b"EHLO sl")  # a client trickling one command, never finishing
        time.sleep(0.3)
        sock.sendall(b"ow.example")
        data = b""
        while chunk := sock.recv(1000):
            data += chunk
    assert data.startswith(b"421 4.4.2 ")


def test_a_failure_after_auth_answers_451_without_details(smtpd, client_tls, tenant):
    with connect(smtpd, client_tls, tenant.server_token) as client:
        # The server disappears between AUTH and DATA: the insert cannot commit.
        Server.objects.filter(id=tenant.server.id).delete()
        client.mail(tenant.sender)
        client.rcpt("alice@example.org")
        code, reply = client.data(message(tenant).as_bytes())
        assert code == 451
        assert (
            reply
            == b"4.3.0 Temporary failure; the message was not accepted, try again later"
        )
        assert client.noop()[0] == 250  # the session survives
    assert Message.objects.count() == 0


def test_twenty_parallel_sessions_are_all_committed(start_server, client_tls, tenant):
    server = start_server(workers=8)
    replies: list[str] = []
    errors: list[BaseException] = []

    def session(n: int) -> None:
        try:
            with connect(server, client_tls, tenant.server_token) as client:
                for i in range(5):
                    msg = message(tenant, X_PM_Tag=f"s{n}")
                    code, reply = send(client, msg, [f"user{n}-{i}@example.org"])
                    assert code == 250
                    replies.append(message_id_of(reply))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(set(replies)) == 100
    assert Message.objects.filter(message_id__in=replies).count() == 100
    assert Recipient.objects.count() == 100


def test_connections_over_the_limit_get_421_at_the_greeting(start_server):
    server = start_server(max_connections=1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as first:
        assert first.recv(1000).startswith(b"220 ")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as second:
            assert second.recv(1000).startswith(b"421 4.3.2 ")


def test_the_smtpd_command_serves_starttls_and_implicit_tls_ports(tmp_path, client_tls):
    import os
    import subprocess
    import sys
    from pathlib import Path

    def free_port() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    plain, implicit = free_port(), free_port()
    env = dict(os.environ, VAR_DIR=str(tmp_path), SMTPD_HOSTNAME="smtp.test")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, str(root / "manage.py"), "smtpd", "--port", str(plain)]
        + ["--tls-port", str(implicit)],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", plain, timeout=5)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline
                time.sleep(0.2)
        with client:
            client.ehlo()
            assert "starttls" in client.esmtp_features
            client.starttls(context=client_tls)
            client.ehlo()
            assert client.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]
        with smtplib.SMTP_SSL("127.0.0.1", implicit, context=client_tls) as client:
            assert client.ehlo()[1].startswith(b"smtp.test")
        # The development certificate was generated under VAR_DIR.
        assert (tmp_path / "tls" / "smtpd-dev-cert.pem").exists()
        # By default one server process per CPU shares the ports.
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
        expected = os.cpu_count() or 1
        assert len(children.split()) == (expected if expected > 1 else 0)
    finally:
        proc.terminate()
        proc.wait(15)


def recv_replies(sock: socket.socket, count: int) -> list[bytes]:
    """Read until ``count`` complete replies (last lines) have arrived."""
    data = b""
    while True:
        lines = data.split(b"\r\n")[:-1]
        final = [line for line in lines if line[3:4] == b" "]
        if len(final) >= count:
            return final
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk


def plain_session(server: ServerThread, token: str) -> socket.socket:
    """A raw socket after EHLO and AUTH PLAIN (loopback plaintext allowed)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    assert recv_replies(sock, 1)[0].startswith(b"220 ")
    sock.sendall(b"EHLO pipelining.example\r\n")
    assert recv_replies(sock, 1)[0].startswith(b"250 ")
    blob = base64.b64encode(f"\0{token}\0{token}".encode())
    sock.sendall(b"AUTH PLAIN " + blob + b"\r\n")
    assert recv_replies(sock, 1)[0].startswith(b"235 ")
    return sock


def test_pipelining_is_advertised(smtpd, client_tls):
    with connect(smtpd, client_tls, None) as client:
        client.ehlo()
        assert "pipelining" in client.esmtp_features


def test_a_pipelined_transaction_is_answered_in_order_and_committed(
    start_server, tenant
):
    server = start_server(allow_loopback_plaintext=True)
    with plain_session(server, tenant.server_token) as sock:
        (protocol,) = server.server.registry.live
        writes: list[bytes] = []
        write = protocol._writer.write
        protocol._writer.write = lambda data: (writes.append(data), write(data))
        # RFC 2920: MAIL, RCPT and DATA in one write; the body after the 354.
        sock.sendall(
            f"MAIL FROM:<{tenant.sender}>\r\nRCPT TO:<alice@example.org>\r\n"
            "RCPT TO:<bob@example.org>\r\nDATA\r\n".encode()
        )
        replies = recv_replies(sock, 4)
        assert [r[:3] for r in replies] == [b"250", b"250", b"250", b"354"]
        assert len(writes) == 1  # the four replies went out together (§3.2)
        # Then the body, the next transaction's commands right behind it.
        sock.sendall(
            wire(message(tenant))
            + f".\r\nMAIL FROM:<{tenant.sender}>\r\nRCPT TO:<carol@example.org>"
            "\r\nDATA\r\n".encode()
        )
        replies = recv_replies(sock, 4)
        assert [r[:3] for r in replies] == [b"250", b"250", b"250", b"354"]
        first = message_id_of(replies[0][4:].decode())
        sock.sendall(wire(message(tenant)) + b".\r\nQUIT\r\n")
        replies = recv_replies(sock, 2)
        second = message_id_of(replies[0][4:].decode())
        assert replies[1].startswith(b"221 ")
    assert sorted(
        Recipient.objects.filter(message__message_id__in=[first, second]).values_list(
            "email", flat=True
        )
    ) == ["alice@example.org", "bob@example.org", "carol@example.org"]


def test_a_failed_command_in_a_pipelined_group_does_not_affect_the_others(
    start_server, tenant
):
    server = start_server(allow_loopback_plaintext=True)
    with plain_session(server, tenant.server_token) as sock:
        sock.sendall(
            f"MAIL FROM:<{tenant.sender}>\r\nRCPT TO:<x@localhost>\r\n"
            "RCPT TO:<alice@example.org>\r\nDATA\r\n".encode()
        )
        replies = recv_replies(sock, 4)
        assert [r[:9] for r in replies] == [
            b"250 2.1.0",
            b"553 5.1.3",
            b"250 2.1.5",
            b"354 End d",
        ]
        sock.sendall(wire(message(tenant)) + b".\r\n")
        message_id = message_id_of(recv_replies(sock, 1)[0][4:].decode())
    assert list(
        Recipient.objects.filter(message__message_id=message_id).values_list(
            "email", flat=True
        )
    ) == ["alice@example.org"]


def test_commands_pipelined_behind_starttls_are_discarded(smtpd):
    # RFC 3207 §4.2 (the 2011 STARTTLS command injection): plaintext sent
    # after STARTTLS must not be executed inside the TLS session.
    with socket.create_connection(("127.0.0.1", smtpd.port), timeout=10) as sock:
        recv_replies(sock, 1)
        sock.sendall(b"EHLO inject.example\r\n")
        recv_replies(sock, 1)
        sock.sendall(b"STARTTLS\r\nXINJECTED\r\n")
        assert recv_replies(sock, 1)[0].startswith(b"220 ")
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(sock) as tls:
            tls.sendall(b"EHLO inject.example\r\nNOOP\r\n")
            replies = recv_replies(tls, 2)
        # Inside TLS: our EHLO and NOOP, no reply to the injected command
        # (it would be "500 ... XINJECTED not recognized").
        assert replies == [b"250 HELP", b"250 2.0.0 OK"], replies


def test_a_lone_message_is_committed_without_waiting(start_server, tenant):
    server = start_server(
        allow_loopback_plaintext=True, group_commit_wait=5.0, workers=1
    )
    with plain_session(server, tenant.server_token) as sock:
        started = time.monotonic()
        sock.sendall(
            f"MAIL FROM:<{tenant.sender}>\r\nRCPT TO:<alice@example.org>\r\n"
            "DATA\r\n".encode()
        )
        recv_replies(sock, 3)
        sock.sendall(wire(message(tenant)) + b".\r\n")
        assert recv_replies(sock, 1)[0].startswith(b"250 2.0.0 OK")
        assert time.monotonic() - started < 2.5  # far below the 5 s wait


def test_group_commit_waits_for_a_transaction_under_way_up_to_the_limit(
    start_server, tenant
):
    server = start_server(
        allow_loopback_plaintext=True, group_commit_wait=1.5, workers=1
    )
    committer = server.server.committer
    envelope = (
        f"MAIL FROM:<{tenant.sender}>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
    ).encode()
    with (
        plain_session(server, tenant.server_token) as slow,
        plain_session(server, tenant.server_token) as fast,
    ):
        slow.sendall(envelope)
        recv_replies(slow, 3)  # under way: its body is still to come
        assert committer.under_way == 1
        fast.sendall(envelope)
        recv_replies(fast, 3)
        started = time.monotonic()
        fast.sendall(wire(message(tenant)) + b".\r\n")
        time.sleep(0.2)
        slow.sendall(wire(message(tenant)) + b".\r\n")  # joins the waiting batch
        fast_id = message_id_of(recv_replies(fast, 1)[0][4:].decode())
        slow_id = message_id_of(recv_replies(slow, 1)[0][4:].decode())
        assert 0.15 < time.monotonic() - started < 1.4
        # One batch: one transaction, one received_at.
        times = set(
            Message.objects.filter(message_id__in=[fast_id, slow_id]).values_list(
                "received_at", flat=True
            )
        )
        assert len(times) == 1
        # A client that stalls mid-transaction delays others by the limit only.
        slow.sendall(f"MAIL FROM:<{tenant.sender}>\r\n".encode())
        recv_replies(slow, 1)
        fast.sendall(envelope)
        recv_replies(fast, 3)
        started = time.monotonic()
        fast.sendall(wire(message(tenant)) + b".\r\n")
        assert recv_replies(fast, 1)[0].startswith(b"250 2.0.0 OK")
        assert 1.4 < time.monotonic() - started < 4
        assert committer.under_way == 1
        slow.sendall(b"RSET\r\n")
        assert recv_replies(slow, 1)[0].startswith(b"250 ")
        assert committer.under_way == 0  # RSET ended the transaction


def test_a_dropped_connection_mid_transaction_is_no_longer_waited_for(
    start_server, tenant
):
    server = start_server(allow_loopback_plaintext=True)
    committer = server.server.committer
    with plain_session(server, tenant.server_token) as sock:
        sock.sendall(f"MAIL FROM:<{tenant.sender}>\r\n".encode())
        recv_replies(sock, 1)
        assert committer.under_way == 1
    deadline = time.monotonic() + 5
    while committer.under_way and time.monotonic() < deadline:
        time.sleep(0.05)
    assert committer.under_way == 0


def data_transaction(sock: socket.socket, tenant, body: bytes) -> bytes:
    sock.sendall(
        f"MAIL FROM:<{tenant.sender}>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n".encode()
    )
    assert [r[:3] for r in recv_replies(sock, 3)] == [b"250", b"250", b"354"]
    sock.sendall(body)
    return recv_replies(sock, 1)[0]


def test_dot_stuffed_lines_are_unstuffed_and_the_rest_kept_byte_for_byte(
    start_server, tenant
):
    server = start_server(allow_loopback_plaintext=True)
    body = wire(message(tenant)).replace(
        b"this came over SMTP.\r\n",
        b"this came over SMTP.\r\n..\r\n...leading dots\r\n. \r\nend.\r\n",
    )
    with plain_session(server, tenant.server_token) as sock:
        reply = data_transaction(sock, tenant, body + b".\r\n")
    stored = Message.objects.get(message_id=message_id_of(reply[4:].decode()))
    raw = archive_get(key=stored.archive_key)
    # RFC 5321 §4.5.2: the client doubled every leading dot; one is removed.
    assert b"this came over SMTP.\r\n.\r\n..leading dots\r\n \r\nend.\r\n" in raw


def test_a_line_over_1000_octets_fails_the_message_and_the_session_goes_on(
    start_server, tenant
):
    server = start_server(allow_loopback_plaintext=True)
    good = wire(message(tenant))
    with plain_session(server, tenant.server_token) as sock:
        # 999 octets + CRLF is the longest line aiosmtpd allows; 1000 is too long.
        ok = good + b"x" * 999 + b"\r\n.\r\n"
        assert data_transaction(sock, tenant, ok).startswith(b"250 2.0.0 OK")
        too_long = good + b"x" * 1000 + b"\r\n.\r\n"
        assert data_transaction(sock, tenant, too_long).startswith(b"500 5.5.2 ")
        # Far over the stream limit, with a lone dot right after its end.
        huge = good + b"y" * 70000 + b"\r\n.\r\n"
        assert data_transaction(sock, tenant, huge).startswith(b"500 5.5.2 ")
        # Bare LF line ends make one long line (RFC 5321 §2.3.8).
        bare = good.replace(b"\r\n", b"\n") * 30 + b"\r\n.\r\n"
        assert data_transaction(sock, tenant, bare).startswith(b"500 5.5.2 ")
        assert data_transaction(sock, tenant, good + b".\r\n").startswith(
            b"250 2.0.0 OK"
        )
    assert Message.objects.count() == 2
