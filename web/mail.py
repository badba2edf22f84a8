"""Read archived MIME for display: headers, the text and HTML parts, inline
images. Pure functions over bytes, no ORM and no network."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

# Inline images larger than this stay unresolved in the preview (keeps pages light).
MAX_INLINE_IMAGE_BYTES = 512 * 1024
_META_REFRESH = re.compile(
    rb"<meta[^>]+http-equiv\s*=\s*[\"']?\s*refresh[^>]*>", re.IGNORECASE
)


@dataclass
class ParsedMail:
    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str | None = None
    html: str | None = None
    # content-id (without <>) → data: URI, for cid: references in the HTML.
    inline_images: dict[str, str] = field(default_factory=dict)
    attachments: list[tuple[str, str, int]] = field(default_factory=list)


def mail_parse(raw: bytes) -> ParsedMail:
    """Split a raw RFC 5322 message into what the message page shows. Malformed
    input never raises: the parser is lenient, unknown charsets fall back to
    replacement characters, and anything the ``email`` package still chokes on
    is shown as plain text."""
    try:
        return _parse(raw)
    except (ValueError, LookupError, TypeError, AttributeError, IndexError):
        return ParsedMail(text=raw.decode("utf-8", errors="replace"))


def _parse(raw: bytes) -> ParsedMail:
    msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[assignment]
    parsed = ParsedMail(headers=[(k, str(v)) for k, v in msg.raw_items()])
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        if disposition == "attachment":
            payload = part.get_payload(decode=True) or b""
            parsed.attachments.append(
                (part.get_filename() or "attachment", ctype, len(payload))
            )
            continue
        if ctype == "text/plain" and parsed.text is None:
            parsed.text = _text(part)
        elif ctype == "text/html" and parsed.html is None:
            parsed.html = _text(part)
        elif ctype.startswith("image/") and part.get("Content-ID"):
            payload = part.get_payload(decode=True) or b""
            cid = str(part["Content-ID"]).strip().strip("<>")
            if len(payload) <= MAX_INLINE_IMAGE_BYTES:
                encoded = base64.b64encode(payload).decode()
                parsed.inline_images[cid] = f"data:{ctype};base64,{encoded}"
    return parsed


def _text(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def preview_html(parsed: ParsedMail) -> bytes:
    """The HTML part prepared for the sandboxed preview: ``cid:`` images become
    ``data:`` URIs and ``<meta http-equiv=refresh>`` is removed (a refresh could
    navigate the frame to a remote page). Scripts, handlers and remote images are
    neutralised by the browser (CSP + iframe sandbox), not by rewriting."""
    html = parsed.html or ""
    for cid, uri in parsed.inline_images.items():
        html = html.replace(f"cid:{cid}", uri)
    return _META_REFRESH.sub(b"", html.encode("utf-8"))
