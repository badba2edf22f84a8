"""Broadcast unsubscribe links: signed per-recipient tokens and the per-recipient
MIME rewrite. Pure functions (settings only, no ORM, no network).

Every copy of a message sent through a Broadcasts stream whose
UnsubscribeHandlingType is ``Postmark`` gets, at delivery (never in the
archived original):

* ``List-Unsubscribe: <https://…/unsubscribe/TOKEN>, <mailto:…>`` (RFC 2369)
  and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058 §3.1:
  the header pair that lets a mail client unsubscribe with one POST, without
  the recipient visiting a page). Both are covered by the DKIM signature, as
  RFC 8058 §4 requires (``messages.dkim.SIGNED_HEADERS``).
* An unsubscribe link in each text/HTML body part: Postmark's
  ``{{{ pm:unsubscribe }}}`` placeholder (optionally ``label="…"``) is replaced
  where present, otherwise a short footer is appended.

The token carries the server, stream, address and MessageID, so a link keeps
working after the message itself has passed its retention period. It is
lower-case base32 plus a truncated HMAC-SHA256 keyed from ``SECRET_KEY``:
lower-case because API paths are matched case-insensitively (the path
middleware lower-cases them).
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message as MimeMessage
from urllib.parse import quote

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from .mime import _WIRE_POLICY

_SALT = "postmark_clone.messages.unsubscribe"
_MAC_HEX_CHARS = 32  # 128 bits of HMAC-SHA256
_MAX_TOKEN_CHARS = 1200
# Postmark's placeholder, with an optional link label.
PLACEHOLDER_RE = re.compile(
    r"\{\{\{\s*pm:unsubscribe(?:\s+label\s*=\s*\"([^\"]*)\")?\s*\}\}\}"
)
DEFAULT_LABEL = "Unsubscribe"
_OWN_HEADERS = (b"list-unsubscribe", b"list-unsubscribe-post")


@dataclass(frozen=True)
class UnsubscribeTarget:
    """Who unsubscribes from what: what a token names."""

    server_id: int
    message_stream: str
    email: str  # lower-cased
    message_id: str  # Postmark MessageID (uuid string) of the message it came in


def token_make(target: UnsubscribeTarget) -> str:
    """The signed, URL- and path-safe token for ``target``."""
    payload = "\n".join(
        [
            str(target.server_id),
            target.message_stream,
            target.email.lower(),
            target.message_id,
        ]
    )
    body = base64.b32encode(payload.encode("utf-8")).decode("ascii")
    body = body.rstrip("=").lower()
    return f"{body}.{_mac(body)}"


def token_read(token: str) -> UnsubscribeTarget | None:
    """The target a genuine token names, or ``None`` for anything forged,
    truncated or malformed (callers answer 404)."""
    if not token or len(token) > _MAX_TOKEN_CHARS:
        return None
    body, _, mac = token.lower().rpartition(".")
    if not body or not constant_time_compare(mac, _mac(body)):
        return None
    try:
        padded = body.upper() + "=" * (-len(body) % 8)
        fields = base64.b32decode(padded).decode("utf-8").split("\n")
        server_id, stream, email, message_id = fields
        return UnsubscribeTarget(int(server_id), stream, email, message_id)
    except ValueError:  # bad base32/UTF-8/field count/int (binascii.Error too)
        return None


def _mac(body: str) -> str:
    return salted_hmac(_SALT, body, algorithm="sha256").hexdigest()[:_MAC_HEX_CHARS]


def unsubscribe_url(token: str) -> str:
    """The https link (``UNSUBSCRIBE_BASE_URL``, default ``SITE_URL``)."""
    base = (settings.UNSUBSCRIBE_BASE_URL or settings.SITE_URL).rstrip("/")
    return f"{base}/unsubscribe/{token}"


def mailto_address() -> str:
    """Where the List-Unsubscribe mailto points (lower-cased): by default a
    mailbox of the default return-path domain, whose MX is our bounce MX."""
    address = settings.UNSUBSCRIBE_MAILTO or (
        f"unsubscribe@{settings.DEFAULT_RETURN_PATH_DOMAIN}"
    )
    return address.strip().lower()


def unsubscribe_mailto(token: str) -> str:
    """The mailto alternative of RFC 2369: the token travels in the subject."""
    return f"mailto:{mailto_address()}?subject={quote('unsubscribe ' + token)}"


def token_from_subject(subject: str) -> str:
    """The token in the subject of a mail sent to the mailto address, or ``""``."""
    match = re.search(r"unsubscribe\s+([a-z2-7]+\.[0-9a-f]+)", subject or "", re.I)
    return match.group(1) if match else ""


def message_personalize(raw: bytes, *, target: UnsubscribeTarget) -> bytes:
    """Return one recipient's copy of ``raw`` (CRLF MIME, unsigned) with the
    List-Unsubscribe headers and the unsubscribe link added.

    Headers of the same names given by the tenant are replaced (one set, ours).
    Attachments and non-text parts are left alone. Pure function.
    """
    token = token_make(target)
    url = unsubscribe_url(token)
    parsed = message_from_bytes(raw, policy=email_policy.compat32)
    changed = False
    for part in parsed.walk():
        if part.get_content_maintype() != "text" or part.is_multipart():
            continue
        if part.get_content_subtype() not in ("plain", "html"):
            continue
        if (part.get("Content-Disposition") or "").lower().startswith("attachment"):
            continue
        changed |= _link_part(part, url)
    body = parsed.as_bytes(policy=_WIRE_POLICY) if changed else raw
    head, sep, rest = body.partition(b"\r\n\r\n")
    lines = _drop_headers(head.split(b"\r\n"), _OWN_HEADERS)
    # One entry per folded line keeps each line short of the 998 limit
    # (RFC 5322 §2.1.1) however long SITE_URL is.
    lines.append(
        f"List-Unsubscribe: <{url}>,\r\n <{unsubscribe_mailto(token)}>".encode()
    )
    lines.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    return b"\r\n".join(lines) + sep + rest


def _drop_headers(lines: list[bytes], names: tuple[bytes, ...]) -> list[bytes]:
    kept: list[bytes] = []
    skipping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = line.split(b":", 1)[0].strip().lower() in names
        if not skipping:
            kept.append(line)
    return kept


def _link_part(part: MimeMessage, url: str) -> bool:
    """Put the link into one text part; ``True`` if the part changed."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return False
    charset = part.get_content_charset() or "us-ascii"
    try:
        text = payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return False  # cannot rewrite safely; the headers still carry the link
    is_html = part.get_content_subtype() == "html"
    if PLACEHOLDER_RE.search(text):
        text = PLACEHOLDER_RE.sub(lambda m: _link(url, m.group(1), is_html), text)
    else:
        text = _with_footer(text, url, is_html)
    _set_text(part, text)
    return True


def _link(url: str, label: str | None, is_html: bool) -> str:
    if is_html:
        return f'<a href="{html.escape(url)}">{html.escape(label or DEFAULT_LABEL)}</a>'
    return f"{label}: {url}" if label else url


def _with_footer(text: str, url: str, is_html: bool) -> str:
    if not is_html:
        return f"{text.rstrip()}\r\n\r\n--\r\n{DEFAULT_LABEL}: {url}\r\n"
    footer = (
        '<p style="font-size:12px;color:#777;text-align:center">'
        f"{_link(url, None, True)}</p>"
    )
    close = text.lower().rfind("</body>")
    if close == -1:
        return text + footer
    return text[:close] + footer + text[close:]


def _set_text(part: MimeMessage, text: str) -> None:
    """Replace a part's text, choosing the encoding as ``messages.mime`` does."""
    del part["Content-Transfer-Encoding"]
    if text.isascii() and all(len(line) <= 998 for line in text.splitlines()):
        part.set_param("charset", "us-ascii")
        part["Content-Transfer-Encoding"] = "7bit"
        part.set_payload(text)
    else:
        part.set_param("charset", "utf-8")
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(base64.encodebytes(text.encode("utf-8")).decode("ascii"))
