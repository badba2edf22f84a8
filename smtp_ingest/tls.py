"""TLS for the SMTP edge: server contexts, and a self-signed development cert.

The only user of ``cryptography`` in smtp_ingest. Production points
``SMTPD_TLS_CERT``/``SMTPD_TLS_KEY`` at a real certificate chain.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
from pathlib import Path

log = logging.getLogger(__name__)


def dev_certificate(*, directory: Path, hostname: str) -> tuple[Path, Path]:
    """Return ``(cert, key)`` paths of a self-signed certificate for ``hostname``
    (plus localhost and 127.0.0.1), generating it once under ``directory``.

    Safe to call twice: an existing pair is reused.
    """
    cert_path = directory / "smtpd-dev-cert.pem"
    key_path = directory / "smtpd-dev-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [
        x509.DNSName(hostname),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Write the key private to its owner; rename makes the pair appear at once.
    tmp_key = key_path.with_suffix(".tmp")
    tmp_key.write_bytes(key_bytes)
    tmp_key.chmod(0o600)
    tmp_cert = cert_path.with_suffix(".tmp")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp_key.replace(key_path)
    tmp_cert.replace(cert_path)
    log.warning("generated a self-signed development certificate at %s", cert_path)
    return cert_path, key_path


def server_context(*, cert: Path | str, key: Path | str) -> ssl.SSLContext:
    """A server-side context: TLS 1.2+, no client certificates requested."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return context


def context_from_settings() -> ssl.SSLContext:
    """The configured certificate, or a generated development one under var/."""
    from django.conf import settings

    cert, key = settings.SMTPD_TLS_CERT, settings.SMTPD_TLS_KEY
    if not (cert and key):
        cert, key = dev_certificate(
            directory=Path(settings.VAR_DIR) / "tls", hostname=settings.SMTPD_HOSTNAME
        )
    return server_context(cert=cert, key=key)
