"""The only user of ``requests``: POST one webhook body and classify the outcome.

Called outside any database transaction (it waits on the network).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import requests
import urllib3

# Postmark retries 5xx, 408 (timeout) and 429 (rate limited); other 4xx are final.
RETRYABLE_STATUSES = frozenset({408, 429})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Postmark follows up to 10 redirects.
MAX_REDIRECTS = 10
# How much of a failed answer we keep for the operator.
ERROR_SNIPPET_BYTES = 512


@dataclass(frozen=True)
class HttpOutcome:
    status_code: int | None
    ok: bool
    retryable: bool
    error: str = ""


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``(url without user:pass@, (user, pass) or None)``. Pure."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username), unquote(parts.password or ""))


def is_public_host(host: str) -> bool:
    """True when every address ``host`` resolves to is a public unicast address:
    tenants must not make us POST into our own network (SSRF)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
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
    """POST ``body``, following up to ``MAX_REDIRECTS`` redirects (the body is
    POSTed again to each; credentials are dropped when the host changes, as
    ``requests`` does), checking every hop's host. Never raises for network or
    HTTP failures."""
    with requests.Session() as session:
        origin = urlsplit(url).hostname
        for _hop in range(MAX_REDIRECTS + 1):
            host = urlsplit(url).hostname or ""
            if not allow_private and not is_public_host(host):
                # Checked before connecting. A DNS answer that changes between
                # this check and the connection (rebinding) is not covered.
                return HttpOutcome(
                    None, False, False, f"refused non-public host {host!r}"
                )
            try:
                response = session.post(
                    url,
                    data=body,
                    headers=headers,
                    auth=auth if host == origin else None,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                return HttpOutcome(
                    None, False, True, f"{type(exc).__name__}: {exc}"[:2000]
                )
            except requests.RequestException as exc:
                # Invalid URL and the like: retrying will not help.
                return HttpOutcome(
                    None, False, False, f"{type(exc).__name__}: {exc}"[:2000]
                )
            with response:
                code = response.status_code
                location = response.headers.get("Location")
                if code in REDIRECT_STATUSES and location:
                    url = urljoin(url, location)
                    continue
                if 200 <= code < 300:
                    return HttpOutcome(code, True, False)
                try:
                    snippet = response.raw.read(
                        ERROR_SNIPPET_BYTES, decode_content=True
                    )
                except (urllib3.exceptions.HTTPError, OSError, ValueError):
                    snippet = b""
            retryable = code >= 500 or code in RETRYABLE_STATUSES
            text = snippet.decode("utf-8", "replace")
            return HttpOutcome(code, False, retryable, f"HTTP {code}: {text}")
    return HttpOutcome(None, False, False, f"more than {MAX_REDIRECTS} redirects")
