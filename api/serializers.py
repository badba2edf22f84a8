"""Map Postmark's PascalCase JSON to service inputs, with Postmark's error codes.

Hand-written rather than DRF serializers on the send path: it runs for every one
of up to 500 batch items, must treat ``null`` and ``""`` as absent, and must
answer with Postmark's exact ErrorCode and message shapes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from messages.email import Attachment, OutboundEmail
from messages.validation import normalize_track_links
from postmark_clone.errors import ApplicationError

MAX_FROM_LENGTH = 255

_STRING_FIELDS = {
    "From": "from_header",
    "To": "to",
    "Cc": "cc",
    "Bcc": "bcc",
    "Subject": "subject",
    "ReplyTo": "reply_to",
    "Tag": "tag",
    "MessageStream": "message_stream",
}


def _absent(value: Any) -> bool:
    return value is None or value == ""


_ADDRESS_LIST_FIELDS = frozenset({"To", "Cc", "Bcc", "ReplyTo"})


def _string(payload: dict, key: str) -> str:
    value = payload.get(key)
    if _absent(value):
        return ""
    if key in _ADDRESS_LIST_FIELDS and isinstance(value, list):
        # Lenient: some hand-written clients send ["a@x", "b@y"] instead of CSV.
        if all(isinstance(item, str) for item in value):
            return ", ".join(item for item in value if item)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApplicationError(
            300, f"The '{key}' field must be a string, not {_json_type(value)}."
        )
    return str(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _bool(payload: dict, key: str) -> bool | None:
    value = payload.get(key)
    if _absent(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise ApplicationError(300, f"The '{key}' field must be true or false.")


def parse_email(payload: Any) -> OutboundEmail:
    """One message object of ``POST /email`` or ``/email/batch``."""
    if not isinstance(payload, dict):
        raise ApplicationError(
            402, "Received invalid JSON input: expected a JSON object."
        )
    # Keys are matched exactly as Postmark documents them; also accept any case.
    lowered = {str(k).lower(): v for k, v in payload.items()}
    canonical = {
        k: lowered.get(k.lower())
        for k in (
            *_STRING_FIELDS,
            "HtmlBody",
            "TextBody",
            "Headers",
            "Metadata",
            "Attachments",
            "TrackOpens",
            "TrackLinks",
        )
    }
    fields = {attr: _string(canonical, key) for key, attr in _STRING_FIELDS.items()}
    if not fields["from_header"]:
        raise ApplicationError(
            300, "The 'From' field is required: give a sender such as 'a@example.com'."
        )
    if len(fields["from_header"]) > MAX_FROM_LENGTH:
        raise ApplicationError(
            300, f"The 'From' field is longer than {MAX_FROM_LENGTH} characters."
        )
    if not fields["message_stream"]:
        fields["message_stream"] = "outbound"
    bodies = {}
    for key, attr in (("HtmlBody", "html_body"), ("TextBody", "text_body")):
        value = canonical[key]
        if _absent(value):
            bodies[attr] = None
        elif isinstance(value, str):
            bodies[attr] = value
        else:
            raise ApplicationError(
                300, f"The '{key}' field must be a string, not {_json_type(value)}."
            )
    track_links_raw = canonical["TrackLinks"]
    if not _absent(track_links_raw) and not isinstance(track_links_raw, str):
        raise ApplicationError(
            300,
            "The 'TrackLinks' field must be one of None, HtmlAndText, HtmlOnly, "
            "TextOnly.",
        )
    return OutboundEmail(
        **fields,
        **bodies,
        headers=_headers(canonical["Headers"]),
        metadata=_metadata(canonical["Metadata"]),
        attachments=_attachments(canonical["Attachments"]),
        track_opens=_bool(canonical, "TrackOpens"),
        track_links=normalize_track_links(track_links_raw),
    )


def _headers(value: Any) -> list[tuple[str, str]]:
    if _absent(value):
        return []
    if isinstance(value, dict):
        # Lenient: {"X-Name": "value"} as well as Postmark's [{Name, Value}].
        value = [{"Name": k, "Value": v} for k, v in value.items()]
    if not isinstance(value, list):
        raise ApplicationError(
            300, "The 'Headers' field must be a list of {Name, Value} objects."
        )
    headers = []
    for item in value:
        if not isinstance(item, dict):
            raise ApplicationError(
                300, "Each header must be an object with Name and Value."
            )
        name, header_value = item.get("Name"), item.get("Value")
        if not isinstance(name, str) or not name:
            raise ApplicationError(300, "Each header needs a non-empty string 'Name'.")
        if header_value is None:
            header_value = ""
        if not isinstance(header_value, str | int | float) or isinstance(
            header_value, bool
        ):
            raise ApplicationError(
                300, f"The value of header '{name}' must be a string."
            )
        headers.append((name, str(header_value)))
    return headers


def _metadata(value: Any) -> dict[str, str]:
    if _absent(value):
        return {}
    if not isinstance(value, dict):
        raise ApplicationError(
            300, "Invalid metadata content. Metadata must be an object."
        )
    result = {}
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, dict | list):
            raise ApplicationError(
                300, f"Invalid metadata content. The value of '{key}' must be a string."
            )
        result[str(key)] = str(item).lower() if isinstance(item, bool) else str(item)
    return result


def _attachments(value: Any) -> list[Attachment]:
    if _absent(value):
        return []
    if not isinstance(value, list):
        raise ApplicationError(300, "The 'Attachments' field must be a list.")
    result = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ApplicationError(300, f"Attachment {index} must be an object.")
        name = item.get("Name")
        content = item.get("Content")
        content_type = item.get("ContentType") or "application/octet-stream"
        content_id = item.get("ContentID") or ""
        if not isinstance(name, str) or not name:
            raise ApplicationError(300, f"Attachment {index} needs a 'Name'.")
        if not isinstance(content, str):
            raise ApplicationError(300, f"Attachment '{name}' needs base64 'Content'.")
        if not isinstance(content_type, str) or not isinstance(content_id, str):
            raise ApplicationError(300, f"Attachment '{name}' has a non-string field.")
        try:
            data = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApplicationError(
                300, f"Attachment '{name}' Content is not valid base64."
            ) from exc
        if content_id.lower().startswith("cid:"):
            content_id = content_id[4:]
        result.append(Attachment(name, data, content_type, content_id.strip("<>")))
    return result


def send_result(result) -> dict[str, Any]:
    """Postmark's per-message response."""
    body: dict[str, Any] = {}
    if result.to:
        body["To"] = result.to
    body["SubmittedAt"] = format_datetime(result.submitted_at)
    body["MessageID"] = result.message_id
    body["ErrorCode"] = 0
    body["Message"] = result.message
    return body


def format_datetime(value) -> str:
    """ISO 8601 with an explicit offset, as Postmark emits (we use UTC)."""
    if value is None:
        return None  # type: ignore[return-value]
    return value.isoformat().replace("+00:00", "Z")
