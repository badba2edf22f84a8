"""The SMTP client adapter against real aiosmtpd servers: STARTTLS policy,
per-recipient replies, connection reuse."""

from __future__ import annotations

import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from messages.sink import SinkServer, SinkState
from messages.smtp_client import ConnectionTrouble, SmtpSession

from .delivery_helpers import closed_port

DATA = b"From: a@example.com\r\nSubject: t\r\n\r\n.leading dot\r\nbody\r\n"


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sink.localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_opportunistic_tls_upgrades_when_offered(tls_context):
    with SinkServer(SinkState(keep_in_memory=True), tls_context=tls_context) as sink:
        session = SmtpSession(host="127.0.0.1", port=sink.port, tls="opportunistic")
        result = session.send(mail_from="b@x.test", recipients=["c@y.test"], data=DATA)
        session.close()
        assert result.replies["c@y.test"].code == 250
        assert sink.state.received[0].tls is True
        # Dot-stuffing round-trips (RFC 5321 §4.5.2).
        assert sink.state.received[0].data.endswith(b".leading dot\r\nbody\r\n")


def test_tls_required_refuses_a_server_without_starttls():
    with SinkServer() as sink:
        session = SmtpSession(host="127.0.0.1", port=sink.port, tls="required")
        with pytest.raises(ConnectionTrouble, match="STARTTLS required"):
            session.send(mail_from="b@x.test", recipients=["c@y.test"], data=DATA)
        assert sink.state.received == []


def test_it_reports_each_recipients_reply_and_reuses_the_connection():
    with SinkServer() as sink:
        session = SmtpSession(host="127.0.0.1", port=sink.port, tls="none")
        first = session.send(
            mail_from="b@x.test",
            recipients=["ok@y.test", "hardbounce@y.test", "softbounce@y.test"],
            data=DATA,
        )
        # A transaction where every recipient is refused, then RSET and on.
        refused = session.send(
            mail_from="b@x.test", recipients=["hardbounce@y.test"], data=DATA
        )
        again = session.send(mail_from="b@x.test", recipients=["ok@y.test"], data=DATA)
        session.close()
    assert first.replies["ok@y.test"].code == 250
    assert str(first.replies["hardbounce@y.test"]).startswith("550 5.1.1")
    assert str(first.replies["softbounce@y.test"]).startswith("452 4.2.2")
    assert refused.replies["hardbounce@y.test"].code == 550
    assert again.replies["ok@y.test"].code == 250
    assert len({m.peer for m in sink.state.received}) == 1
    assert sink.state.count == 2


def test_a_refused_connection_is_connection_trouble():
    session = SmtpSession(host="127.0.0.1", port=closed_port(), tls="none")
    with pytest.raises(ConnectionTrouble):
        session.send(mail_from="b@x.test", recipients=["c@y.test"], data=DATA)
