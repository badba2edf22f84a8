"""Postmark's JSON for a bounce: one builder for the API and the Bounce webhook.

Field names follow postmark-api.md §4 (Bounce object) and §7.2 (Bounce and
SpamComplaint payloads); both read the same row, so they can never disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .models import Bounce, BounceType


def format_datetime(value: datetime | None) -> str | None:
    """ISO 8601 with an explicit offset (UTC as ``Z``), like ``api.serializers``."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def type_name(bounce_type: str) -> str:
    """Postmark's human ``Name`` of a bounce type ("Hard bounce")."""
    try:
        return str(BounceType(bounce_type).label)
    except ValueError:
        return bounce_type


def bounce_fields(bounce: Bounce) -> dict[str, Any]:
    """The Bounce object of ``GET /bounces`` (without ``Content``)."""
    return {
        "RecordType": "Bounce",
        "ID": bounce.id,
        "Type": bounce.type,
        "TypeCode": bounce.type_code,
        "Name": type_name(bounce.type),
        "Tag": bounce.tag,
        "MessageID": str(bounce.message_uuid) if bounce.message_uuid else "",
        "ServerID": bounce.server_id,
        "MessageStream": bounce.message_stream,
        "Description": bounce.description,
        "Details": bounce.details,
        "Email": bounce.email,
        "From": bounce.from_header,
        "BouncedAt": format_datetime(bounce.bounced_at),
        "DumpAvailable": bool(bounce.dump_key),
        "Inactive": bounce.inactive,
        "CanActivate": bounce.can_activate,
        "Subject": bounce.subject,
    }


def bounce_webhook_payload(
    bounce: Bounce, *, metadata: dict[str, str], content: str
) -> dict[str, Any]:
    """Postmark's Bounce / SpamComplaint webhook body (§7.2).

    ``Content`` carries the raw report; ``webhooks.services.webhook_emit`` keeps it
    only for webhooks whose trigger has ``IncludeContent`` (Postmark's rule).
    """
    payload = bounce_fields(bounce)
    payload["RecordType"] = (
        "SpamComplaint" if bounce.type == BounceType.SPAM_COMPLAINT else "Bounce"
    )
    payload["Metadata"] = {str(k): str(v) for k, v in (metadata or {}).items()}
    payload["Content"] = content
    return payload
