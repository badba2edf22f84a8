"""Builders for archived messages with exactly the fields a search looks at."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from accounts.models import Server
from messages.models import Message, MessageEvent, Recipient

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make_message(
    server: Server,
    *,
    to: str = "alice@example.org",
    from_email: str = "sender@acme.example.com",
    subject: str = "Hello",
    tag: str = "",
    status: str = Message.Status.SENT,
    stream: str = "outbound",
    metadata: dict | None = None,
    received_at: datetime = NOW,
    archive_key: str = "",
    recipient_status: str = Recipient.Status.DELIVERED,
) -> Message:
    addresses = [a.strip() for a in to.split(",") if a.strip()]
    message = Message.objects.create(
        server=server,
        message_stream=stream,
        from_header=f"Acme <{from_email}>",
        from_email=from_email.lower(),
        to_header=to,
        recipients_text=",".join(a.lower() for a in addresses),
        subject=subject,
        tag=tag,
        status=status,
        metadata=metadata or {},
        received_at=received_at,
        archive_key=archive_key,
        header_message_id=f"{uuid.uuid4()}@acme.example.com",
    )
    for address in addresses:
        Recipient.objects.create(
            message=message,
            email=address,
            status=recipient_status,
            next_attempt_at=received_at,
            server=server,
            message_stream=stream,
            received_at=received_at,
        )
    return message


def add_event(message: Message, type_: str, when: datetime, **details) -> None:
    MessageEvent.objects.create(
        message=message,
        recipient=message.recipients_text.split(",")[0],
        type=type_,
        details=details,
        created_at=when,
    )
