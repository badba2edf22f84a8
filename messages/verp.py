"""VERP return paths (variable envelope return path) with a short HMAC.

The envelope sender of each delivery encodes the recipient row it was sent to, so
a bounce arriving at our bounce MX maps to the exact message and recipient.
Format: ``b.<recipient_id base36>.<signature>@<return-path domain>``. The
signature (HMAC-SHA256 over the id, 10 base32 chars = 50 bits) lets the bounce MX
refuse forged bounces for addresses we never used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings

PREFIX = "b"
SIGNATURE_LENGTH = 10


def _sign(recipient_id: int) -> str:
    digest = hmac.new(
        settings.VERP_SECRET.encode(), f"verp:{recipient_id}".encode(), hashlib.sha256
    ).digest()
    return base64.b32encode(digest).decode()[:SIGNATURE_LENGTH].lower()


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def verp_encode(*, recipient_id: int, domain: str) -> str:
    """The envelope sender for delivering recipient row ``recipient_id``."""
    return f"{PREFIX}.{_base36(recipient_id)}.{_sign(recipient_id)}@{domain}"


def verp_decode(address: str) -> int | None:
    """The recipient row id encoded in ``address``, or ``None`` when it is not one
    of ours or its signature is wrong (a forged bounce). Case-insensitive, since
    some MTAs lower-case the local part."""
    local = address.strip("<>").rpartition("@")[0].lower()
    parts = local.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    try:
        recipient_id = int(parts[1], 36)
    except ValueError:
        return None
    if not hmac.compare_digest(parts[2], _sign(recipient_id)):
        return None
    return recipient_id
