"""Reads for messages. Every lookup takes the server (tenant) and filters by it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Server

from .models import Message, MessageEvent


@dataclass
class MessageFilters:
    """Postmark's ``GET /messages/outbound`` filters (all optional)."""

    recipient: str = ""
    fromemail: str = ""
    tag: str = ""
    status: str = ""
    fromdate: datetime | None = None
    todate: datetime | None = None
    subject: str = ""
    messagestream: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


def message_search(
    *, server: Server, filters: MessageFilters, count: int, offset: int
) -> tuple[int, list[Message]]:
    """``(total, page)`` of the server's messages matching ``filters``, newest first.

    The archive issue makes this fast at millions of rows."""
    qs: QuerySet[Message] = Message.objects.filter(server=server)
    if filters.recipient:
        qs = qs.filter(recipients_text__icontains=filters.recipient.lower())
    if filters.fromemail:
        qs = qs.filter(from_email__icontains=filters.fromemail.lower())
    if filters.tag:
        qs = qs.filter(tag=filters.tag)
    if filters.status:
        qs = qs.filter(status__iexact=filters.status)
    if filters.fromdate:
        qs = qs.filter(received_at__gte=filters.fromdate)
    if filters.todate:
        qs = qs.filter(received_at__lte=filters.todate)
    if filters.subject:
        qs = qs.filter(subject__icontains=filters.subject)
    if filters.messagestream:
        qs = qs.filter(message_stream=filters.messagestream)
    for key, value in filters.metadata.items():
        qs = qs.filter(**{f"metadata__{key}": value})
    total = qs.count()
    page = list(qs.order_by("-received_at", "-id")[offset : offset + count])
    return total, page


def message_get(*, server: Server, message_id: str) -> Message | None:
    """The server's message with Postmark ``MessageID``; ``None`` if missing or
    another tenant's (indistinguishable on purpose)."""
    try:
        parsed = uuid.UUID(str(message_id))
    except ValueError:
        return None
    return Message.objects.filter(server=server, message_id=parsed).first()


def message_events(*, message: Message) -> list[MessageEvent]:
    return list(message.events.order_by("created_at", "id"))
