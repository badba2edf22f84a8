"""Real messages and bounces for payload tests."""

from __future__ import annotations

from datetime import datetime

from bounces.models import TYPE_CODES, Bounce
from messages.email import OutboundEmail
from messages.models import Message
from messages.services import message_send


def sent_message(tenant, **kwargs) -> Message:
    email = OutboundEmail(
        from_header=f"Acme <{tenant.sender}>",
        to="john@example.com",
        subject="Your receipt",
        text_body="Thanks",
        tag="receipts",
        metadata={"order": "42"},
        **kwargs,
    )
    result = message_send(server=tenant.server, email=email)
    return Message.objects.get(message_id=result.message_id)


def bounce_for(message: Message, bounce_type: str, when: datetime, **kw) -> Bounce:
    return Bounce.objects.create(
        server=message.server,
        message=message,
        message_uuid=message.message_id,
        message_stream=message.message_stream,
        type=bounce_type,
        type_code=TYPE_CODES[bounce_type],
        email="john@example.com",
        from_header=message.from_header,
        subject=message.subject,
        tag=message.tag,
        details="smtp; 550 5.1.1 user unknown",
        bounced_at=when,
        **kw,
    )
