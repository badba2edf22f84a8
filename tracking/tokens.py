"""Signed tracking tokens: compact, URL-safe, unforgeable without SECRET_KEY.

A token is ``base64url(mac || payload)`` without padding. ``payload`` is a kind
byte (``o`` open, ``h``/``t`` click in the HTML/text part), the recipient row id
as an unsigned LEB128 varint, and for clicks the destination URL in UTF-8.
``mac`` is the first 12 bytes (96 bits) of HMAC-SHA256 (RFC 2104) over the
payload, keyed with a key derived from ``SECRET_KEY`` for this purpose only.

The click destination lives only inside a valid token, so the click endpoint
cannot be used as an open redirect: an altered token fails the MAC and gets a
404 before any URL is read. Pure functions, no database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

MAC_BYTES = 12
KIND_OPEN = "o"
KIND_CLICK_HTML = "h"
KIND_CLICK_TEXT = "t"
_KINDS = {KIND_OPEN, KIND_CLICK_HTML, KIND_CLICK_TEXT}
# A URL longer than this is left untracked (browsers and mail clients cope badly
# with much longer links anyway).
MAX_URL_BYTES = 4096


@dataclass(frozen=True)
class Token:
    kind: str  # KIND_OPEN, KIND_CLICK_HTML or KIND_CLICK_TEXT
    recipient_id: int
    url: str = ""

    @property
    def click_location(self) -> str:
        return "Text" if self.kind == KIND_CLICK_TEXT else "HTML"


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    # A key of its own (HKDF-like derivation): a token MAC never equals any
    # other HMAC the project computes from SECRET_KEY.
    return hmac.new(
        secret.encode(), b"postmark-clone/tracking-token/v1", hashlib.sha256
    ).digest()


def _mac(payload: bytes) -> bytes:
    key = _key(settings.SECRET_KEY)
    return hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode(token: Token) -> str:
    """The URL-safe text of ``token``. Raises ``ValueError`` on a negative id or
    an unknown kind."""
    if token.kind not in _KINDS or token.recipient_id < 0:
        raise ValueError("bad token")
    payload = token.kind.encode() + _varint(token.recipient_id)
    if token.kind != KIND_OPEN:
        payload += token.url.encode("utf-8")
    return base64.urlsafe_b64encode(_mac(payload) + payload).rstrip(b"=").decode()


def decode(text: str) -> Token | None:
    """The token in ``text``, or ``None`` when it is malformed, forged or altered
    (constant-time MAC comparison)."""
    if not text or len(text) > 8192:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < MAC_BYTES + 2:
        return None
    mac, payload = raw[:MAC_BYTES], raw[MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(payload)):
        return None
    kind = chr(payload[0])
    value, shift, index = 0, 0, 1
    while index < len(payload):
        byte = payload[index]
        value |= (byte & 0x7F) << shift
        index += 1
        if not byte & 0x80:
            break
        shift += 7
    else:
        return None
    if kind == KIND_OPEN:
        return Token(kind=kind, recipient_id=value) if index == len(payload) else None
    if kind not in _KINDS:
        return None
    try:
        url = payload[index:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not url.lower().startswith(("http://", "https://")):
        return None
    return Token(kind=kind, recipient_id=value, url=url)
