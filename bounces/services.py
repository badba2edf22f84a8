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
    from_header: str = "",
    subject: str = "",
    tag: str = "",
    message_stream: str = "",
    dump_key: str = "",
) -> Bounce:
    """Record one bounce for ``email`` (classifying it when ``bounce_type`` is None),
    add the message's Bounced event and finish its recipient row.

    The bounces issue completes this (classification, suppression, stats,
    webhooks, raw report archive). Not idempotent: each call is a new bounce.

    With ``message=None`` (e.g. an SMTP submission rejected before any Message
    row existed) ``from_header``, ``subject``, ``tag`` and ``message_stream``
    describe what was submitted, and ``dump_key`` points at an already archived
    copy of the raw submission.
    """
    bounce_type = bounce_type or "HardBounce"
    now = timezone.now()
    with transaction.atomic():
        bounce = Bounce.objects.create(
            server=server,
            message=message,
            message_uuid=message.message_id if message else None,
            message_stream=(
                message.message_stream if message else message_stream or "outbound"
            ),
            type=bounce_type,
            type_code=TYPE_CODES[bounce_type],
            email=email,
            from_header=message.from_header if message else from_header[:512],
            subject=message.subject if message else subject[:2000],
            tag=message.tag if message else tag[:1000],
            details=details or diagnostic,
            dump_key=dump_key,
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


def bounce_activate(*, server: Server, bounce_id: int) -> Bounce:
    """Reactivate the recipient of one of ``server``'s bounces: clear ``inactive``
    and remove its suppression. Raises ``ApplicationError`` 1001 when the bounce
    is missing or another tenant's, 1003 when it cannot be activated (spam
    complaints). Safe to call twice."""
    from postmark_clone.errors import ApplicationError

    from .models import Suppression

    bounce = Bounce.objects.filter(server=server, id=bounce_id).first()
    if bounce is None:
        raise ApplicationError(1001, "This bounce was not found.")
    if not bounce.can_activate:
        raise ApplicationError(1003, "This bounce cannot be activated.")
    with transaction.atomic():
        Bounce.objects.filter(id=bounce.id).update(inactive=False)
        Suppression.objects.filter(
            server=server,
            message_stream=bounce.message_stream,
            email=bounce.email.lower(),
            reason__in=[Suppression.Reason.HARD_BOUNCE, Suppression.Reason.MANUAL],
        ).delete()
    bounce.inactive = False
    return bounce


def suppression_add(
    *, server: Server, message_stream: str, emails: list[str], origin: str = "Customer"
) -> list[dict[str, str]]:
    """Suppress ``emails`` on a stream (manual suppression). One result per address:
    ``{"EmailAddress", "Status": "Suppressed"|"Failed", "Message"}``. Idempotent."""
    from messages.validation import is_valid_address

    from .models import Suppression

    results = []
    for email in emails:
        address = (email or "").strip().lower()
        if not is_valid_address(address):
            results.append(
                {
                    "EmailAddress": email,
                    "Status": "Failed",
                    "Message": "Invalid email address.",
                }
            )
            continue
        Suppression.objects.get_or_create(
            server=server,
            message_stream=message_stream,
            email=address,
            defaults={"reason": Suppression.Reason.MANUAL, "origin": origin},
        )
        results.append({"EmailAddress": email, "Status": "Suppressed", "Message": None})
    return results


def suppression_delete(
    *, server: Server, message_stream: str, emails: list[str]
) -> list[dict[str, str]]:
    """Remove suppressions; spam complaints cannot be removed (``Failed``).
    Addresses that were not suppressed also report ``Deleted``. Idempotent."""
    from .models import Suppression

    results = []
    for email in emails:
        address = (email or "").strip().lower()
        row = Suppression.objects.filter(
            server=server, message_stream=message_stream, email=address
        ).first()
        if row is not None and row.reason == Suppression.Reason.SPAM_COMPLAINT:
            results.append(
                {
                    "EmailAddress": email,
                    "Status": "Failed",
                    "Message": "You do not have the required authority to "
                    "change this suppression.",
                }
            )
            continue
        if row is not None:
            row.delete()
            Bounce.objects.filter(
                server=server, message_stream=message_stream, email__iexact=address
            ).update(inactive=False)
        results.append({"EmailAddress": email, "Status": "Deleted", "Message": None})
    return results
