"""Per-recipient rewriting of an outgoing message for open and click tracking.

``personalize`` takes the archived RFC 5322 bytes (never modified: the archive
keeps the original) and returns the copy for one recipient: an open pixel at the
end of the HTML part and/or ``http``/``https`` links pointing at our click
endpoint, each carrying a signed token that names the recipient row. Pure
functions over bytes; no database, no network.
"""

from __future__ import annotations

import base64
import html
import logging
import quopri
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from django.conf import settings

from messages.mime import _WIRE_POLICY

from . import tokens

logger = logging.getLogger("tracking")

TRACK_HTML = ("HtmlAndText", "HtmlOnly")
TRACK_TEXT = ("HtmlAndText", "TextOnly")

# An <a ...> start tag and, inside it, its href attribute (any quoting).
_A_TAG = re.compile(r"<a\b[^>]*>", re.IGNORECASE)
_HREF = re.compile(
    r"""(\bhref\s*=\s*)("([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
# A bare URL in text; trailing punctuation is not part of it (sentence ends).
_TEXT_URL = re.compile(r"""https?://[^\s<>"'\]\[(){}]+""", re.IGNORECASE)
_TRAILING = ".,;:!?*"


@dataclass
class Personalized:
    data: bytes
    links: int  # links rewritten
    pixel: bool  # open pixel inserted


def base_url() -> str:
    return (settings.TRACKING_BASE_URL or settings.SITE_URL).rstrip("/")


def open_url(recipient_id: int) -> str:
    token = tokens.encode(
        tokens.Token(kind=tokens.KIND_OPEN, recipient_id=recipient_id)
    )
    return f"{base_url()}/t/o/{token}"


def click_url(recipient_id: int, url: str, *, text: bool = False) -> str:
    kind = tokens.KIND_CLICK_TEXT if text else tokens.KIND_CLICK_HTML
    token = tokens.encode(tokens.Token(kind=kind, recipient_id=recipient_id, url=url))
    return f"{base_url()}/t/c/{token}"


def _trackable(url: str, own: str) -> bool:
    lowered = url.lower()
    return (
        lowered.startswith(("http://", "https://"))
        and not url.startswith(own)
        and len(url.encode("utf-8")) <= tokens.MAX_URL_BYTES
    )


def rewrite_html(
    content: str, *, recipient_id: int, links: bool, pixel: bool
) -> tuple[str, int]:
    """Rewrite ``<a href>`` links (unless the tag has ``data-pm-no-track``) and
    append the open pixel before ``</body>`` (or at the end). Returns the new
    HTML and the number of links rewritten. Pure."""
    count = 0
    own = base_url() + "/t/"
    if links:

        def tag(match: re.Match[str]) -> str:
            nonlocal count
            text = match.group(0)
            if "data-pm-no-track" in text.lower():
                return text
            href = _HREF.search(text)
            if href is None:
                return text
            raw = next(g for g in href.groups()[2:] if g is not None)
            url = html.unescape(raw).strip()
            if not _trackable(url, own):
                return text
            count += 1
            new = click_url(recipient_id, url, text=False)
            return f'{text[: href.start()]}{href.group(1)}"{new}"{text[href.end() :]}'

        content = _A_TAG.sub(tag, content)
    if pixel:
        img = (
            f'<img src="{open_url(recipient_id)}" width="1" height="1" alt="" '
            'style="display:block;border:0;width:1px;height:1px" />'
        )
        ends = list(_BODY_END.finditer(content))
        if ends:
            at = ends[-1].start()
            content = content[:at] + img + content[at:]
        else:
            content += img
    return content, count


def rewrite_text(content: str, *, recipient_id: int) -> tuple[str, int]:
    """Rewrite bare ``http``/``https`` URLs of a text part. Pure."""
    count = 0
    own = base_url() + "/t/"

    def link(match: re.Match[str]) -> str:
        nonlocal count
        url = match.group(0)
        tail = ""
        while url and url[-1] in _TRAILING:
            url, tail = url[:-1], url[-1] + tail
        if not _trackable(url, own) or url.lower() in ("http://", "https://"):
            return match.group(0)
        count += 1
        return click_url(recipient_id, url, text=True) + tail

    return _TEXT_URL.sub(link, content), count


def _is_body_part(part: Message, subtype: str) -> bool:
    if part.get_content_type() != f"text/{subtype}":
        return False
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip()
    return disposition.lower() != "attachment"


def _get_text(part: Message) -> str | None:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return None


def _set_text(part: Message, content: str) -> None:
    """Store ``content`` back, keeping the part's charset when it can encode it."""
    charset = part.get_content_charset() or "us-ascii"
    try:
        data = content.encode(charset)
    except (LookupError, UnicodeEncodeError):
        charset, data = "utf-8", content.encode("utf-8")
    cte = str(part.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if cte in ("7bit", "8bit", "binary", ""):
        ascii_ok = data.isascii() or cte != "7bit"
        if ascii_ok and all(len(line) <= 998 for line in data.splitlines()):
            part.set_param("charset", charset)
            # Bytes as surrogates: the generator writes them back unchanged.
            part.set_payload(data.decode("ascii", errors="surrogateescape"))
            return
        cte = "base64"
    del part["Content-Transfer-Encoding"]
    if cte == "quoted-printable":
        encoded = quopri.encodestring(data).decode("ascii")
        encoded = encoded.replace("\r\n", "\n").replace("\n", "\r\n")
    else:
        cte = "base64"
        encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
    part["Content-Transfer-Encoding"] = cte
    part.set_param("charset", charset)
    part.set_payload(encoded)


def personalize(
    raw: bytes, *, recipient_id: int, track_opens: bool, track_links: str
) -> Personalized:
    """The copy of ``raw`` for recipient row ``recipient_id``.

    Opens: a 1x1 pixel in every HTML body part (Postmark tracks opens in HTML
    only). Links: HTML ``<a href>`` for ``HtmlAndText``/``HtmlOnly``, bare URLs of
    text parts for ``HtmlAndText``/``TextOnly``; only ``http``/``https``, never
    links marked ``data-pm-no-track`` or our own ``/t/`` URLs. Parts that are
    attachments are left alone. Returns ``raw`` itself when nothing changed.
    """
    html_links = track_links in TRACK_HTML
    text_links = track_links in TRACK_TEXT
    if not (track_opens or html_links or text_links):
        return Personalized(raw, 0, False)
    root = message_from_bytes(raw, policy=compat32)
    links = 0
    pixel = False
    changed = False
    for part in root.walk():
        if part.is_multipart():
            continue
        if (track_opens or html_links) and _is_body_part(part, "html"):
            content = _get_text(part)
            if content is None:
                continue
            new, count = rewrite_html(
                content, recipient_id=recipient_id, links=html_links, pixel=track_opens
            )
            links += count
            pixel = pixel or track_opens
            _set_text(part, new)
            changed = True
        elif text_links and _is_body_part(part, "plain"):
            content = _get_text(part)
            if content is None:
                continue
            new, count = rewrite_text(content, recipient_id=recipient_id)
            if count:
                links += count
                _set_text(part, new)
                changed = True
    if not changed:
        return Personalized(raw, 0, False)
    try:
        data = root.as_bytes(policy=_WIRE_POLICY)
    except (UnicodeError, ValueError, LookupError) as exc:
        # Better delivered untracked than not at all.
        logger.warning("could not write a tracked copy (%s); sending as is", exc)
        return Personalized(raw, 0, False)
    return Personalized(data, links, pixel)
