"""Compose RFC 5322 / MIME messages with Python's ``email`` package."""

from __future__ import annotations

import base64
import random
from datetime import datetime
from email import encoders, policy
from email._policybase import Compat32
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.parser import BytesHeaderParser
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from . import validation
from .email import Attachment, OutboundEmail

# Headers a tenant may not set through ``Headers``: we own them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "reply-to",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "return-path",
        "dkim-signature",
        "x-pm-message-id",
    }
)
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)
# compat32 is the email package's original API: several times faster than the
# EmailMessage/policy.default API at composing (the send path's hottest code per
# the profile in docs/benchmarks.md), and just as standard on the wire.


class _WirePolicy(Compat32):
    """compat32 with a fast path for short single-line ASCII headers.

    compat32 builds an ``email.header.Header`` to fold every header, which was
    half the cost of composing a message; a header that already fits on one line
    (RFC 5322 §2.1.1's 78 characters) is written as is.
    """

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if (
            isinstance(value, str)
            and len(name) + len(value) < 76
            and value.isascii()
            and "\r" not in value
            and "\n" not in value
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


_WIRE_POLICY = _WirePolicy(linesep="\r\n")
# RFC 5322 §2.1.1: lines SHOULD stay within 78 characters and MUST within 998.
_MAX_PLAIN_HEADER = 900


def message_id_header(*, message_id: str, from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"<{message_id}@{domain}>"


def compose(
    email: OutboundEmail,
    *,
    from_address: str,
    message_id: str,
    submitted_at: datetime,
    from_name: str = "",
) -> tuple[bytes, str]:
    """Build the MIME for an API-submitted email with Python's ``email`` package.

    Returns ``(raw_bytes, message_id_header)``, CRLF line endings. Structure:
    text and/or HTML (``multipart/alternative`` when both), inline parts
    (``ContentID``) in ``multipart/related`` beside the HTML (RFC 2387), other
    attachments in ``multipart/mixed``. A ``Message-ID`` given in ``Headers`` is
    kept as given (Postmark does the same); otherwise it is
    ``<MessageID@from-domain>``. ``From`` carries only the first sender when the
    client sent several (Postmark keeps the first). Non-ASCII header text is
    RFC 2047-encoded. Raises ``ValueError`` (or another ``email`` package error)
    on input the package refuses. Pure function.
    """
    body = _body(email)
    regular = [a for a in email.attachments if not a.content_id]
    if regular:
        root = _multipart("mixed")
        root.attach(body)
        for attachment in regular:
            root.attach(_attachment_part(attachment, inline=False))
    else:
        root = body
    root["From"] = _address_header([(from_name, from_address)])
    if email.to:
        root["To"] = _address_list_header(email.to)
    if email.cc:
        root["Cc"] = _address_list_header(email.cc)
    if email.reply_to:
        root["Reply-To"] = _address_list_header(email.reply_to)
    root["Subject"] = _text_header(email.subject)
    root["Date"] = format_datetime(submitted_at)
    custom_message_id = ""
    for name, value in email.headers:
        lowered = name.lower()
        if lowered == "message-id":
            custom_message_id = value
            continue
        if lowered in RESERVED_HEADERS:
            continue
        root[name] = _text_header(value)
    mid = custom_message_id or message_id_header(
        message_id=message_id, from_address=from_address
    )
    root["Message-ID"] = mid
    root["X-PM-Message-Id"] = message_id
    root["MIME-Version"] = "1.0"
    return root.as_bytes(policy=_WIRE_POLICY), mid


def _body(email: OutboundEmail) -> Message:
    text, html = email.text_body, email.html_body
    inline = [a for a in email.attachments if a.content_id]
    html_part = _text_part(html, "html") if html is not None else None
    if inline:
        # Inline parts sit next to the part that references them (the HTML, or
        # the text when there is no HTML) inside multipart/related.
        related = _multipart("related")
        related.attach(html_part or _text_part(text or "", "plain"))
        for attachment in inline:
            related.attach(_attachment_part(attachment, inline=True))
        if html_part is None:
            return related
        html_part = related
    if html_part is not None and text is not None:
        alternative = _multipart("alternative")
        alternative.attach(_text_part(text, "plain"))
        alternative.attach(html_part)
        return alternative
    if html_part is not None:
        return html_part
    return _text_part(text or "", "plain")


# Parts are plain ``email.message.Message`` objects with their headers written
# out: the MIMEText/MIMEMultipart constructors re-parse every parameter they set,
# which the profile showed as a fifth of the cost of composing.


def _multipart(subtype: str) -> Message:
    part = Message()
    # A random boundary that cannot occur in base64/7bit bodies, set up front so
    # the generator need not scan the whole body for collisions (RFC 2046 §5.1.1).
    # 96 random bits keep the header under 78 characters (no folding needed).
    # Not a secret, so the fast PRNG: os.urandom per part showed in the profile.
    part["Content-Type"] = (
        f'multipart/{subtype}; boundary="=_{random.getrandbits(96):024x}"'
    )
    part.set_payload([])
    return part


def _text_part(content: str, subtype: str) -> Message:
    part = Message()
    if content.isascii() and all(len(line) <= 998 for line in content.splitlines()):
        # 7bit keeps ASCII readable; RFC 5322 §2.1.1 caps lines at 998.
        part["Content-Type"] = f'text/{subtype}; charset="us-ascii"'
        part["Content-Transfer-Encoding"] = "7bit"
        part.set_payload(content)
    else:
        part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(base64.encodebytes(content.encode("utf-8")).decode("ascii"))
    return part


def _attachment_part(attachment: Attachment, *, inline: bool) -> Message:
    maintype, subtype = _split_type(attachment.content_type)
    part = MIMEBase(maintype, subtype)
    del part["MIME-Version"]
    part.set_payload(attachment.content)
    encoders.encode_base64(part)
    filename: str | tuple[str, str, str] = attachment.name
    if not attachment.name.isascii():
        filename = ("utf-8", "", attachment.name)  # RFC 2231 parameter encoding
    part.add_header(
        "Content-Disposition", "inline" if inline else "attachment", filename=filename
    )
    if inline:
        part["Content-ID"] = f"<{attachment.content_id}>"
    return part


def _text_header(value: str) -> str | Header:
    if value.isascii() and len(value) <= _MAX_PLAIN_HEADER:
        return value
    return Header(value, "utf-8")  # RFC 2047 encoded-words, folded


def _address_list_header(value: str) -> str:
    if value.isascii() and len(value) <= _MAX_PLAIN_HEADER:
        return value
    return _address_header(
        [parseaddr(piece) for piece in validation.split_addresses(value)]
    )


def _address_header(pairs: list[tuple[str, str]]) -> str:
    """RFC 5322 address list with RFC 2047 names and IDNA (RFC 5891) domains."""
    formatted = []
    for name, address in pairs:
        local, _, domain = address.rpartition("@")
        if not domain.isascii():
            domain = domain.encode("idna").decode("ascii")
        formatted.append(formataddr((name, f"{local}@{domain}"), charset="utf-8"))
    # Fold between addresses so long lists keep lines short (RFC 5322 §2.2.3).
    return ",\r\n ".join(formatted) if len(formatted) > 1 else formatted[0]


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
    if not maintype or not subtype:
        return "application", "octet-stream"
    return maintype.strip().lower(), subtype.split(";")[0].strip().lower()


def read_headers(raw: bytes) -> EmailMessage:
    """Parse only the header block of a raw message."""
    return BytesHeaderParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]


def prepare_raw(
    raw: bytes, *, message_id: str, from_address: str, keep_message_id: bool
) -> tuple[bytes, str]:
    """Give a client-built message our Message-ID (unless it asked to keep its own,
    ``X-PM-KeepID``) and the ``X-PM-Message-Id`` header. Returns ``(raw, mid)``."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    # compat32 is enough to read one header and several times cheaper than the
    # structured default policy (this runs once per SMTP message).
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(head + b"\r\n\r\n")
    existing = str(headers.get("Message-ID", "") or "").strip()
    lines = head.splitlines()
    kept: list[bytes] = []
    skipping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        skipping = name == b"x-pm-message-id" or (
            name == b"message-id" and not (keep_message_id and existing)
        )
        if not skipping:
            kept.append(line)
    mid = (
        existing
        if (keep_message_id and existing)
        else message_id_header(message_id=message_id, from_address=from_address)
    )
    if not (keep_message_id and existing):
        kept.append(f"Message-ID: {mid}".encode())
    kept.append(f"X-PM-Message-Id: {message_id}".encode())
    return b"\r\n".join(kept) + b"\r\n\r\n" + body, mid
