"""Postmark's Open and Click objects (API records, §5) and webhook payloads
(§7.2) as pure functions of our rows."""

from __future__ import annotations

from typing import Any

from webhooks.payloads import format_timestamp

from .models import Click, Open


def _geo(event: Open | Click) -> dict[str, Any]:
    # No offline geolocation data is bundled: only the IP is known.
    return {"IP": event.ip} if event.ip else {}


def _common(event: Open | Click) -> dict[str, Any]:
    return {
        "Client": {
            "Name": event.client_name,
            "Company": event.client_company,
            "Family": event.client_family,
        },
        "OS": {
            "Name": event.os_name,
            "Company": event.os_company,
            "Family": event.os_family,
        },
        "Platform": event.platform,
        "UserAgent": event.user_agent,
    }


def _ids(event: Open | Click, message_uuid: str) -> dict[str, Any]:
    return {
        "MessageID": message_uuid,
        "MessageStream": event.message_stream,
        "Tag": event.tag,
        "Recipient": event.recipient,
    }


def open_record(event: Open, *, message_uuid: str, received_at: str) -> dict[str, Any]:
    """Postmark's Open object (``/messages/outbound/opens``)."""
    body: dict[str, Any] = {"RecordType": "Open", "FirstOpen": event.first_open}
    body.update(_common(event))
    body["ReadSeconds"] = event.read_seconds
    body["Geo"] = _geo(event)
    body.update(_ids(event, message_uuid))
    body["ReceivedAt"] = received_at
    return body


def click_record(
    event: Click, *, message_uuid: str, received_at: str
) -> dict[str, Any]:
    """Postmark's Click object (``/messages/outbound/clicks``)."""
    body: dict[str, Any] = {
        "RecordType": "Click",
        "ClickLocation": event.click_location,
    }
    body.update(_common(event))
    body["OriginalLink"] = event.original_link
    body["Geo"] = _geo(event)
    body.update(_ids(event, message_uuid))
    body["ReceivedAt"] = received_at
    return body


def _metadata(metadata: dict | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (metadata or {}).items()}


def payload_open(
    event: Open, *, message_uuid: str, metadata: dict | None
) -> dict[str, Any]:
    """Postmark's ``Open`` webhook payload (no ``ServerID``)."""
    body = open_record(
        event,
        message_uuid=message_uuid,
        received_at=format_timestamp(event.received_at),
    )
    body["Metadata"] = _metadata(metadata)
    return body


def payload_click(
    event: Click, *, message_uuid: str, metadata: dict | None
) -> dict[str, Any]:
    """Postmark's ``Click`` webhook payload."""
    body = click_record(
        event,
        message_uuid=message_uuid,
        received_at=format_timestamp(event.received_at),
    )
    body["Metadata"] = _metadata(metadata)
    return body
