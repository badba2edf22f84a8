"""Compose RFC 5322 / MIME messages with Python's ``email`` package."""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime

from .email import OutboundEmail

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
    }
)
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


def message_id_header(*, message_id: str, from_address: str) -> str:
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"<{message_id}@{domain}>"


def compose(
    email: OutboundEmail, *, from_address: str, message_id: str, submitted_at: datetime
) -> tuple[bytes, str]:
    """Build the MIME for an API-submitted email.

    Returns ``(raw_bytes, message_id_header)``. Structure: text and/or HTML
    (``multipart/alternative`` when both), inline parts in ``multipart/related``
    beside the HTML, attachments in ``multipart/mixed``. A ``Message-ID`` given
    in ``Headers`` is kept as given (Postmark does the same).
    """
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = email.from_header
    if email.to:
        msg["To"] = email.to
    if email.cc:
        msg["Cc"] = email.cc
    if email.reply_to:
        msg["Reply-To"] = email.reply_to
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(submitted_at)
    custom_message_id = ""
    for name, value in email.headers:
        lowered = name.lower()
        if lowered == "message-id":
            custom_message_id = value
            continue
        if lowered in RESERVED_HEADERS:
            continue
        msg[name] = value
    mid = custom_message_id or message_id_header(
        message_id=message_id, from_address=from_address
    )
    msg["Message-ID"] = mid
    msg["X-PM-Message-Id"] = message_id

    text, html = email.text_body, email.html_body
    if text is not None and html is not None:
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        html_part = msg.get_payload()[1]
    elif html is not None:
        msg.set_content(html, subtype="html")
        html_part = msg
    else:
        msg.set_content(text or "")
        html_part = None

    inline = [a for a in email.attachments if a.content_id]
    regular = [a for a in email.attachments if not a.content_id]
    for attachment in inline:
        maintype, subtype = _split_type(attachment.content_type)
        target = html_part if html_part is not None else msg
        target.add_related(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            cid=f"<{attachment.content_id}>",
            filename=attachment.name,
            disposition="inline",
        )
    for attachment in regular:
        maintype, subtype = _split_type(attachment.content_type)
        msg.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.name,
        )
    return msg.as_bytes(policy=SMTP_POLICY), mid


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
