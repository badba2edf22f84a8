"""Writes for bounces and suppressions.

``bounce_record`` is the one way a bounce enters the system: synchronous SMTP
rejections during delivery, DSNs/ARF reports at the bounce MX, bounce webhooks
from the sender pool, SMTP API errors and bounce testing all call it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import Server
from messages.models import Message, MessageEvent, Recipient

from .models import TYPE_CODES, Bounce


def bounce_record(
    *,
    server: Server,
    message: Message | None,
    email: str,
    bounce_type: str | None = None,
    smtp_status: str = "",
    diagnostic: str = "",
    details: str = "",
    raw_report: bytes | None = None,
    origin: str = "delivery",
) -> Bounce:
    """Record one bounce for ``email`` (classifying it when ``bounce_type`` is None),
    add the message's Bounced event and finish its recipient row.

    The bounces issue completes this (classification, suppression, stats,
    webhooks, raw report archive). Not idempotent: each call is a new bounce.
    """
    bounce_type = bounce_type or "HardBounce"
    now = timezone.now()
    with transaction.atomic():
        bounce = Bounce.objects.create(
            server=server,
            message=message,
            message_uuid=message.message_id if message else None,
            message_stream=message.message_stream if message else "outbound",
            type=bounce_type,
            type_code=TYPE_CODES[bounce_type],
            email=email,
            from_header=message.from_header if message else "",
            subject=message.subject if message else "",
            tag=message.tag if message else "",
            details=details or diagnostic,
            bounced_at=now,
        )
        if message is not None:
            MessageEvent.objects.create(
                message=message,
                recipient=email,
                type=MessageEvent.Type.BOUNCED,
                details={"Summary": details or diagnostic, "BounceID": str(bounce.id)},
                created_at=now,
            )
            Recipient.objects.filter(message=message, email__iexact=email).exclude(
                status__in=Recipient.FINAL_STATUSES
            ).update(status=Recipient.Status.BOUNCED, finished_at=now)
    return bounce
