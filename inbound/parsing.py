"""Raw MIME → Postmark's inbound JSON. Pure: Python's ``email`` package, no ORM.

The payload has Postmark's keys in Postmark's order (postmark-api.md §7.2):
``FromName, MessageStream, From, FromFull, To, ToFull, Cc, CcFull, Bcc, BccFull,
OriginalRecipient, Subject, MessageID, ReplyTo, MailboxHash, Date, TextBody,
HtmlBody, StrippedTextReply, Tag, Headers, Attachments`` (+ ``RawEmail``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Any

from .replies import stripped_text_reply

# Headers Postmark lifts into top-level fields (or that describe the MIME
# structure it has already decoded); every other header goes to ``Headers``.
LIFTED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "reply-to",
        "content-type",
        "content-transfer-encoding",
        "return-path",
    }
)

# Keys of the list items of GET /messages/inbound (the rest is details-only).
SUMMARY_KEYS = (
    "From",
    "FromName",
    "FromFull",
    "To",
    "ToFull",
    "Cc",
    "CcFull",
    "Bcc",
    "BccFull",
    "ReplyTo",
    "OriginalRecipient",
    "Subject",
    "Date",
    "MailboxHash",
    "Tag",
    "MessageStream",
)


def clean(value: Any) -> str:
    """A JSON-safe string: undecodable bytes (surrogate escapes) become U+FFFD."""
    text = "" if value is None else str(value)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def mailbox_hash(address: str) -> str:
    """The part of the local part after the first ``+`` (Postmark's
    MailboxHash), or ``""``."""
    local = address.rpartition("@")[0] if "@" in address else address
    return local.partition("+")[2]


def parse_message(raw: bytes) -> EmailMessage:
    """Parse with the modern policy (decoded RFC 2047 headers, ``get_body``)."""
    return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]


def _raw_header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items():  # type: ignore[attr-defined]
        if key.lower() == name.lower():
            return str(value)
    return None


def _header(msg: Message, name: str) -> str:
    """The header as the sender wrote it (quotes kept), RFC 2047 words
    decoded, unfolded; ``""`` when absent."""
    raw = _raw_header(msg, name)
    if raw is None:
        return ""
    unfolded = raw.replace("\r", "").replace("\n", "")
    try:
        decoded = str(make_header(decode_header(unfolded)))
    except (HeaderParseError, UnicodeError, LookupError, ValueError):
        decoded = unfolded
    return clean(decoded).strip()


def _address_list(
    msg: Message, name: str, inbound_domains: set[str]
) -> list[dict[str, str]]:
    """``[{Email, Name, MailboxHash}]`` of an address header; MailboxHash only
    for addresses at one of our inbound domains."""
    try:
        header = msg.get(name)
        pairs = [
            (clean(a.display_name), clean(a.addr_spec))
            for a in getattr(header, "addresses", ())
        ]
    except (ValueError, TypeError, IndexError, AttributeError):
        pairs = getaddresses([_header(msg, name)])
    result = []
    for display_name, address in pairs:
        if not address or "@" not in address:
            continue
        domain = address.rpartition("@")[2].lower()
        result.append(
            {
                "Email": address,
                "Name": display_name,
                "MailboxHash": mailbox_hash(address)
                if domain in inbound_domains
                else "",
            }
        )
    return result


def _text(part: Message) -> str:
    """A body part decoded to text, line endings normalised to ``\n``."""
    try:
        text = clean(part.get_content())  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, ValueError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", "replace")  # type: ignore[union-attr]
    return text.replace("\r\n", "\n")


def _bodies(msg: EmailMessage) -> tuple[Message | None, Message | None]:
    try:
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
    except (KeyError, ValueError, AttributeError):
        return None, None
    return text, html


@dataclass(frozen=True)
class ParsedAttachment:
    name: str
    content_type: str
    data: bytes
    content_id: str

    def as_json(self, *, with_content: bool = True) -> dict[str, Any]:
        item: dict[str, Any] = {"Name": self.name}
        if with_content:
            item["Content"] = base64.b64encode(self.data).decode("ascii")
        item.update(
            {
                "ContentType": self.content_type,
                "ContentLength": len(self.data),
                "ContentID": self.content_id,
            }
        )
        return item


def _leaves(part: Message):
    """Leaf parts in order; an attached message (message/rfc822) is one leaf."""
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        yield part
        return
    payload = part.get_payload()
    for child in payload if isinstance(payload, list) else []:
        yield from _leaves(child)


def attachments(
    msg: EmailMessage, bodies: tuple[Message | None, Message | None]
) -> list[ParsedAttachment]:
    """Every leaf part that is not the chosen text or HTML body: attachments
    and inline parts (images referenced by ``cid:``), as Postmark lists them."""
    chosen = {id(part) for part in bodies if part is not None}
    result = []
    for index, part in enumerate(_leaves(msg)):
        if id(part) in chosen:
            continue
        content_type = part.get_content_type()
        filename = clean(part.get_filename() or "")
        disposition = (part.get_content_disposition() or "").lower()
        if (
            content_type in ("text/plain", "text/html")
            and not filename
            and disposition != "attachment"
        ):
            continue  # an alternative body part we did not choose
        if content_type == "message/rfc822":
            inner = part.get_payload()
            data = (
                inner[0].as_bytes()
                if isinstance(inner, list) and inner
                else (part.get_payload(decode=True) or b"")
            )
        else:
            data = part.get_payload(decode=True) or b""  # type: ignore[assignment]
        content_id = _header(part, "Content-ID").strip().strip("<>")
        name = filename or (
            f"attachment-{index}.eml"
            if content_type == "message/rfc822"
            else f"attachment-{index}"
        )
        result.append(ParsedAttachment(name, content_type, bytes(data), content_id))
    return result


def spam_score(msg: Message) -> float | None:
    """``X-Spam-Score`` as added by a filter in front of the MX (SpamAssassin,
    rspamd), or ``None`` when absent or not a number."""
    value = _header(msg, "X-Spam-Score").strip()
    try:
        return float(value)
    except ValueError:
        return None


def headers(msg: Message, *, mail_from: str) -> list[dict[str, str]]:
    """Postmark's ``Headers``: a leading ``Return-Path`` with the envelope
    sender (added at final delivery, RFC 5321 §4.4, replacing any the sender
    wrote; anymail reads it as the envelope sender), then every header not
    lifted into a top-level field, in message order, unfolded."""
    result = [{"Name": "Return-Path", "Value": f"<{clean(mail_from)}>"}]
    for name, value in msg.raw_items():  # type: ignore[attr-defined]
        if name.lower() in LIFTED_HEADERS:
            continue
        try:
            decoded = str(msg.policy.header_fetch_parse(name, value))  # type: ignore[attr-defined]
        except (ValueError, TypeError, IndexError):
            decoded = str(value)
        result.append(
            {
                "Name": clean(name),
                "Value": clean(decoded).replace("\r", "").replace("\n", ""),
            }
        )
    return result


def inbound_payload(
    *,
    raw: bytes,
    message_id: str,
    original_recipient: str,
    mail_from: str,
    received_at: datetime,
    inbound_domains: set[str],
    tag: str = "",
    raw_email: bool = False,
    with_content: bool = True,
    parsed: EmailMessage | None = None,
) -> dict[str, Any]:
    """Postmark's inbound webhook JSON for ``raw`` as received for
    ``original_recipient``. Deterministic: the same inputs give the same JSON,
    so it can be rebuilt from the archived raw message at any time. ``parsed``
    is ``parse_message(raw)`` when the caller already has it (read only)."""
    msg = parsed if parsed is not None else parse_message(raw)
    senders = _address_list(msg, "From", set())
    if senders:
        from_name, from_email = senders[0]["Name"], senders[0]["Email"]
    else:
        from_name, from_email = parseaddr(_header(msg, "From"))
    to, cc, bcc = (_header(msg, name) for name in ("To", "Cc", "Bcc"))
    text_part, html_part = bodies = _bodies(msg)
    text_body = _text(text_part) if text_part is not None else ""
    html_body = _text(html_part) if html_part is not None else ""
    date = _header(msg, "Date") or format_datetime(received_at)
    payload: dict[str, Any] = {
        "FromName": from_name,
        "MessageStream": "inbound",
        "From": from_email,
        "FromFull": {"Email": from_email, "Name": from_name, "MailboxHash": ""},
        "To": to,
        "ToFull": _address_list(msg, "To", inbound_domains),
        "Cc": cc,
        "CcFull": _address_list(msg, "Cc", inbound_domains),
        "Bcc": bcc,
        "BccFull": _address_list(msg, "Bcc", inbound_domains),
        "OriginalRecipient": original_recipient,
        "Subject": _header(msg, "Subject"),
        "MessageID": message_id,
        "ReplyTo": _header(msg, "Reply-To"),
        "MailboxHash": mailbox_hash(original_recipient),
        "Date": date,
        "TextBody": text_body,
        "HtmlBody": html_body,
        "StrippedTextReply": stripped_text_reply(text_body),
        "Tag": tag,
        "Headers": headers(msg, mail_from=mail_from),
        "Attachments": [
            a.as_json(with_content=with_content) for a in attachments(msg, bodies)
        ],
    }
    if raw_email:
        payload["RawEmail"] = raw.decode("utf-8", "replace")
    return payload


def summary(payload: dict[str, Any]) -> dict[str, Any]:
    """The list-item fields of a payload (stored on the row), attachments
    without their content."""
    result = {key: payload[key] for key in SUMMARY_KEYS}
    result["Attachments"] = [
        {k: v for k, v in item.items() if k != "Content"}
        for item in payload["Attachments"]
    ]
    return result
