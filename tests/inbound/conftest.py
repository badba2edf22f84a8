from __future__ import annotations

from pathlib import Path

import pytest

from tests.webhooks.conftest import Receiver, receiver  # noqa: F401 - a real HTTP receiver

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inbound"


def fixture_eml(name: str, *, inbound_hash: str = "") -> bytes:
    """A raw ``.eml`` fixture; ``HASHPLACEHOLDER`` becomes the server's hash."""
    raw = (FIXTURES / name).read_bytes()
    return raw.replace(b"HASHPLACEHOLDER", inbound_hash.encode())


def inbound_address(tenant, mailbox_hash: str = "") -> str:
    from django.conf import settings

    local = tenant.server.inbound_hash + (f"+{mailbox_hash}" if mailbox_hash else "")
    return f"{local}@{settings.INBOUND_ADDRESS_DOMAIN}"


def simple_eml(
    *,
    sender: str = "ana@example.org",
    to: str,
    subject: str = "Hello",
    body: str = "Hi",
) -> bytes:
    from email import policy
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = f"Ana <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 05 Jan 2026 10:00:00 +0000"
    msg["Message-ID"] = "<m1@example.org>"
    msg.set_content(body)
    # CRLF line ends, as on the wire (RFC 5321 §2.3.8).
    return msg.as_bytes(policy=policy.SMTP)


@pytest.fixture
def hook_settings(settings):
    """Hooks on 127.0.0.1 receivers, short timeouts and a short schedule."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.INBOUND_RETRY_DELAYS = [0, 0]
    settings.INBOUND_HOOK_TIMEOUT_SECONDS = 5
    return settings


def set_hook(tenant, url: str) -> None:
    tenant.server.inbound_hook_url = url
    tenant.server.save(update_fields=["inbound_hook_url"])


__all__ = ["Receiver", "receiver"]
