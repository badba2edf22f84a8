"""The only user of ``requests``: POST one webhook body and classify the outcome.

Called outside any database transaction (it waits on the network).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests

# Postmark retries 5xx, 408 (timeout) and 429 (rate limited); other 4xx are final.
RETRYABLE_STATUSES = frozenset({408, 429})
MAX_REDIRECTS = 10


@dataclass(frozen=True)
class HttpOutcome:
    status_code: int | None
    ok: bool
    retryable: bool
    error: str = ""


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``(url without user:pass@, (user, pass) or None)``."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    from urllib.parse import unquote

    return bare, (unquote(parts.username), unquote(parts.password or ""))


def is_public_host(host: str) -> bool:
    """True when every address ``host`` resolves to is a public unicast address:
    tenants must not make us POST into our own network (SSRF)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            return False
    return True


def post_json(
    *,
    url: str,
    body: bytes,
    headers: dict[str, str],
    auth: tuple[str, str] | None,
    timeout: float,
    allow_private: bool,
) -> HttpOutcome:
    """POST ``body``; never raises for network or HTTP failures."""
    host = urlsplit(url).hostname or ""
    if not allow_private and not is_public_host(host):
        # Checked before connecting; see docs for the DNS-rebinding caveat.
        return HttpOutcome(None, False, False, f"refused non-public host {host!r}")
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    try:
        response = session.post(
            url, data=body, headers=headers, auth=auth, timeout=timeout
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        return HttpOutcome(None, False, True, f"{type(exc).__name__}: {exc}"[:2000])
    except requests.RequestException as exc:
        # Invalid URL, too many redirects, ...: retrying will not help.
        return HttpOutcome(None, False, False, f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        session.close()
    code = response.status_code
    if 200 <= code < 300:
        return HttpOutcome(code, True, False)
    retryable = code >= 500 or code in RETRYABLE_STATUSES
    return HttpOutcome(code, False, retryable, f"HTTP {code}: {response.text[:500]}")
