"""Writes for recipient subscription changes: the broadcast unsubscribe link.

A recipient who unsubscribes through the link (``messages.unsubscribe``) is
suppressed on that stream with reason ``ManualSuppression`` and origin
``Recipient``, as Postmark records unsubscribes (postmark-api.md §7.2, §8); the
next send to the address on that stream is refused like any inactive recipient
(406). A SubscriptionChange webhook is queued in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import MessageStream, Server
from messages.mime import read_headers
from messages.models import Message, MessageEvent
from messages.unsubscribe import (
    UnsubscribeTarget,
    mailto_address,
    token_from_subject,
    token_read,
)
from webhooks.payloads import format_timestamp
from webhooks.services import webhook_emit

from .models import Suppression


@dataclass(frozen=True)
class Unsubscribe:
    """What a token resolves to, for the confirmation page."""

    target: UnsubscribeTarget
    server: Server
    stream: MessageStream
    # True when this call suppressed the address; False when it already was.
    changed: bool = False


def unsubscribe_lookup(*, token: str) -> Unsubscribe | None:
    """The stream and address a genuine token names, or ``None`` (forged token,
    or the server or stream no longer exists). Reads only."""
    target = token_read(token)
    if target is None:
        return None
    server = Server.objects.filter(id=target.server_id).first()
    if server is None:
        return None
    stream = MessageStream.objects.filter(
        server=server, stream_id=target.message_stream
    ).first()
    if stream is None:
        return None
    return Unsubscribe(target=target, server=server, stream=stream)


def unsubscribe_confirm(*, token: str) -> Unsubscribe | None:
    """Unsubscribe the token's recipient from its stream: a ``ManualSuppression``
    / ``Recipient`` suppression, a ``SubscriptionChanged`` event on the message
    (while it is retained) and a SubscriptionChange webhook, in one transaction.

    Returns ``None`` for a token ``unsubscribe_lookup`` refuses. Idempotent: an
    address already suppressed on the stream (for any reason) is left as it is,
    and no second event or webhook is queued (``changed`` is then False).
    """
    found = unsubscribe_lookup(token=token)
    if found is None:
        return None
    target, server = found.target, found.server
    now = timezone.now()
    with transaction.atomic():
        _row, created = Suppression.objects.get_or_create(
            server=server,
            message_stream=target.message_stream,
            email=target.email,
            defaults={
                "reason": Suppression.Reason.MANUAL,
                "origin": Suppression.Origin.RECIPIENT,
            },
        )
        if not created:
            return found
        message = Message.objects.filter(
            server=server, message_id=target.message_id
        ).first()
        if message is not None:
            MessageEvent.objects.create(
                message=message,
                recipient=target.email,
                type=MessageEvent.Type.SUBSCRIPTION_CHANGED,
                details={"Origin": "Recipient", "SuppressSending": "True"},
                created_at=now,
            )
        webhook_emit(
            server=server,
            message_stream=target.message_stream,
            record_type="SubscriptionChange",
            payload=payload_subscription_change(
                server=server,
                message_stream=target.message_stream,
                recipient=target.email,
                message=message,
                message_id=target.message_id,
                changed_at=now,
            ),
        )
    return Unsubscribe(target=target, server=server, stream=found.stream, changed=True)


def unsubscribe_mail_wanted(address: str) -> bool:
    """Whether ``address`` is the List-Unsubscribe mailto mailbox."""
    return (address or "").strip().strip("<>").lower() == mailto_address()


def unsubscribe_mail_receive(*, raw: bytes) -> str:
    """The bounce MX's handling of a mail sent to the mailto of a
    List-Unsubscribe header (RFC 2369): the token is in the Subject (mail
    clients send the subject the mailto gives). Unsubscribes like the one-click
    POST and returns the SMTP reply for DATA; a subject without a genuine token
    is refused with 550 so the sender learns it did not work. Idempotent."""
    subject = str(read_headers(raw).get("Subject", "") or "")
    token = token_from_subject(subject)
    if token and unsubscribe_confirm(token=token) is not None:
        return "250 2.0.0 Unsubscribed"
    return "550 5.7.1 Not a valid unsubscribe request: the subject has no valid token"


def payload_subscription_change(
    *,
    server: Server,
    message_stream: str,
    recipient: str,
    message: Message | None,
    message_id: str | None,
    changed_at: datetime,
    origin: str = "Recipient",
    suppress_sending: bool = True,
    reason: str | None = "ManualSuppression",
) -> dict[str, Any]:
    """Postmark's ``SubscriptionChange`` webhook payload (postmark-api.md §7.2);
    ``Tag`` and ``Metadata`` come from the message while it is retained."""
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": message_id,
        "ServerID": server.id,
        "MessageStream": message_stream,
        "ChangedAt": format_timestamp(changed_at),
        "Recipient": recipient,
        "Origin": origin,
        "SuppressSending": suppress_sending,
        "SuppressionReason": reason,
        "Tag": message.tag if message is not None else "",
        "Metadata": (
            {str(k): str(v) for k, v in (message.metadata or {}).items()}
            if message is not None
            else {}
        ),
    }
