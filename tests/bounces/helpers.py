"""Builders shared by the bounce tests: sent messages, VERP, report fixtures."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from messages.email import OutboundEmail
from messages.models import Message, Recipient
from messages.services import message_send
from messages.verp import verp_encode

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bounces"
# Placeholders used by every .eml fixture (realistic values, replaced per test).
FIXTURE_VERP = "b.1a.abcdefghij@bounces.localhost"
FIXTURE_MESSAGE_ID = "0a7e3c6e-2f4b-4a57-9a43-6a2f4e1c9d10"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def send(tenant, *, to: str = "bob@example.net", **fields) -> Message:
    """Accept one message through the real send service and return its row."""
    email = OutboundEmail(
        from_header=f"Acme Support <{tenant.sender}>",
        to=to,
        subject=fields.pop("subject", "Your receipt"),
        text_body="Thanks for your order.",
        **fields,
    )
    result = message_send(server=tenant.server, email=email)
    return Message.objects.get(message_id=result.message_id)


def verp_for(row: Recipient) -> str:
    return verp_encode(recipient_id=row.id, domain=settings.DEFAULT_RETURN_PATH_DOMAIN)


def report_for(
    name: str, *, message: Message, fixture_rcpt: str, row: Recipient | None = None
) -> bytes:
    """A fixture report rewritten to be about ``message``'s recipient ``row``."""
    row = row or message.recipients.get()
    raw = fixture_bytes(name)
    raw = raw.replace(FIXTURE_VERP.encode(), verp_for(row).encode())
    raw = raw.replace(FIXTURE_MESSAGE_ID.encode(), str(message.message_id).encode())
    return raw.replace(fixture_rcpt.encode(), row.email.encode())
