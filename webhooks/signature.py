"""Our webhook signature (Postmark sends none; we add one without touching the
payload).

Header ``X-PM-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256 (RFC 2104) keyed with the webhook's signing secret over
``"<t>." + <raw request body bytes>``. Receivers recompute it over the exact body
they received, compare in constant time, and reject timestamps older than a few
minutes to stop replays. Pure functions.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-PM-Signature"


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-PM-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    *,
    secret: str,
    body: bytes,
    header: str,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """True when ``header`` is a valid signature of ``body`` made within
    ``tolerance_seconds`` of ``now``. What a receiver runs."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
