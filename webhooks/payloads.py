"""Postmark's webhook payloads (postmark-api.md §7.2) as pure functions.

They read only the objects given (pass a bounce whose ``message`` is loaded, or
``None``) and return plain JSON-ready dicts; ``webhook_emit`` queues them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bounces.models import Bounce
    from messages.models import Message

# Postmark's canned per-type descriptions, used when a bounce has none of its own.
BOUNCE_DESCRIPTIONS: dict[str, str] = {
    "HardBounce": "The server was unable to deliver your message "
    "(ex: unknown user, mailbox not found).",
    "SoftBounce": "Unable to temporarily deliver message (i.e. mailbox full, "
    "account disabled, exceeds quota, out of disk space).",
    "Transient": "The server could not temporarily deliver your message "
    "(ex: Message is delayed due to network troubles).",
    "SpamComplaint": "The subscriber explicitly marked this message as spam.",
    "SpamNotification": "The message was delivered, but was either blocked by the "
    "user, or classified as spam, bulk mail, or had rejected content.",
    "DnsError": "A temporary DNS error.",
    "AutoResponder": 'Automatic email responder (ex: "Out of Office" or '
    '"On Vacation").',
    "Blocked": "ISP block: the receiving server refused the message because of "
    "the sender's reputation or content.",
    "SMTPApiError": "An error occurred while accepting an email through the SMTP API.",
    "BadEmailAddress": "Invalid email address.",
    "ManuallyDeactivated": "The email was manually deactivated.",
    "Unknown": "Unable to classify the bounce.",
}


def format_timestamp(when: datetime) -> str:
    """ISO 8601 in UTC with ``Z``, as Postmark's webhooks write it; Django's
    ``parse_datetime`` (anymail) and Python's ``fromisoformat`` read it."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _metadata(message: Message | None) -> dict[str, str]:
    if message is None or not message.metadata:
        return {}
    return {str(k): str(v) for k, v in message.metadata.items()}


def payload_delivery(
    message: Message, recipient_email: str, details: str, delivered_at: datetime
) -> dict[str, Any]:
    """Postmark's ``Delivery`` payload for one delivered recipient; ``details``
    is the remote server's 250 reply."""
    return {
        "RecordType": "Delivery",
        "ServerID": message.server_id,
        "MessageStream": message.message_stream,
        "MessageID": str(message.message_id),
        "Recipient": recipient_email,
        "Tag": message.tag,
        "DeliveredAt": format_timestamp(delivered_at),
        "Details": details,
        "Metadata": _metadata(message),
    }


def payload_bounce(bounce: Bounce, content: str | None = None) -> dict[str, Any]:
    """Postmark's ``Bounce`` payload, or its ``SpamComplaint`` payload when the
    bounce's type is ``SpamComplaint`` (same fields, ``RecordType`` differs).

    ``content`` is the raw report; it is included as ``Content`` when given, and
    ``webhook_emit`` strips it for webhooks without ``IncludeContent``."""
    from bounces.models import BounceType

    message = bounce.message if bounce.message_id else None
    record_type = "SpamComplaint" if bounce.type == "SpamComplaint" else "Bounce"
    labels = dict(BounceType.choices)
    payload: dict[str, Any] = {
        "RecordType": record_type,
        "ID": bounce.id,
        "Type": bounce.type,
        "TypeCode": bounce.type_code,
        "Name": labels.get(bounce.type, bounce.type),
        "Tag": bounce.tag,
        "MessageID": str(bounce.message_uuid) if bounce.message_uuid else "",
        "ServerID": bounce.server_id,
        "MessageStream": bounce.message_stream,
        "Description": bounce.description or BOUNCE_DESCRIPTIONS.get(bounce.type, ""),
        "Details": bounce.details,
        "Email": bounce.email,
        "From": bounce.from_header,
        "BouncedAt": format_timestamp(bounce.bounced_at),
        "DumpAvailable": bool(bounce.dump_key),
        "Inactive": bounce.inactive,
        "CanActivate": bounce.can_activate,
        "Subject": bounce.subject,
        "Metadata": _metadata(message),
    }
    if content is not None:
        payload["Content"] = content
    return payload


def payload_spam_complaint(
    bounce: Bounce, content: str | None = None
) -> dict[str, Any]:
    """Postmark's ``SpamComplaint`` payload (a bounce of type SpamComplaint)."""
    return payload_bounce(bounce, content)
