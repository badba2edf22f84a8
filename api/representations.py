"""Postmark's JSON shapes for tenancy objects (servers, streams, domains), and
the small request parsers the account and server APIs share.

Hand-written like ``api/serializers.py``: keys are Postmark's exact PascalCase,
request keys are matched ignoring case, and ``null`` means "absent".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from rest_framework.request import Request

from accounts.models import Domain, MessageStream, Server
from accounts.selectors import server_tokens
from postmark_clone.errors import ApplicationError

from .base import query_param

MAX_PAGE = 500
DEFAULT_PAGE = 100


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 with an explicit offset (Postmark §1); we answer in UTC."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


# --- servers --------------------------------------------------------------------

# Request key (lower-case) → service field. Read-only keys a client may echo back
# from a GET (ID, ApiTokens, ServerLink, InboundAddress, InboundHash) are ignored.
SERVER_INPUT = {
    "name": "name",
    "color": "color",
    "smtpapiactivated": "smtp_api_activated",
    "rawemailenabled": "raw_email_enabled",
    "deliverytype": "delivery_type",
    "inboundhookurl": "inbound_hook_url",
    "bouncehookurl": "bounce_hook_url",
    "openhookurl": "open_hook_url",
    "deliveryhookurl": "delivery_hook_url",
    "clickhookurl": "click_hook_url",
    "postfirstopenonly": "post_first_open_only",
    "inbounddomain": "inbound_domain",
    "inboundspamthreshold": "inbound_spam_threshold",
    "trackopens": "track_opens",
    "tracklinks": "track_links",
    "includebouncecontentinhook": "include_bounce_content_in_hook",
    "enablesmtpapierrorhooks": "enable_smtp_api_error_hooks",
}
# Fields where "" means "clear it" rather than "absent".
CLEARABLE = {
    "inbound_hook_url",
    "bounce_hook_url",
    "open_hook_url",
    "delivery_hook_url",
    "click_hook_url",
    "inbound_domain",
}
BOOLEAN_FIELDS = {
    "smtp_api_activated",
    "raw_email_enabled",
    "post_first_open_only",
    "track_opens",
    "include_bounce_content_in_hook",
    "enable_smtp_api_error_hooks",
}
# Some clients send query-string style booleans in JSON bodies.
BOOLEAN_STRINGS = {"true": True, "false": False}


def server_input(data: Any) -> dict[str, Any]:
    """A ``POST /servers`` or ``PUT /server(s/{id})`` body → service kwargs.

    Raises 609 when the body is not a JSON object.
    """
    if not isinstance(data, dict):
        raise ApplicationError(
            609, "The request body must be a JSON object of server settings."
        )
    fields: dict[str, Any] = {}
    for key, value in data.items():
        field = SERVER_INPUT.get(str(key).lower())
        if field is None or value is None:
            continue
        if value == "" and field not in CLEARABLE:
            continue
        if field in BOOLEAN_FIELDS and isinstance(value, str):
            value = BOOLEAN_STRINGS.get(value.strip().lower(), value)
        fields[field] = value
    return fields


def server_json(server: Server, *, plaintext_tokens: list[str] | None = None) -> dict:
    """Postmark's server object (§10.1).

    ``ApiTokens`` holds masked tokens (prefix + "…"): we store only hashes. The one
    response that creates a token passes its plaintext in ``plaintext_tokens``.
    """
    tokens = plaintext_tokens
    if tokens is None:
        tokens = [token.masked for token in server_tokens(server=server)]
    return {
        "ID": server.id,
        "Name": server.name,
        "ApiTokens": tokens,
        "ServerLink": f"{settings.SITE_URL.rstrip('/')}/ui/servers/{server.id}",
        "Color": server.color,
        "SmtpApiActivated": server.smtp_api_activated,
        "RawEmailEnabled": server.raw_email_enabled,
        "DeliveryType": server.delivery_type,
        "InboundAddress": (
            f"{server.inbound_hash}@{settings.INBOUND_ADDRESS_DOMAIN}"
            if server.inbound_hash
            else ""
        ),
        "InboundHookUrl": server.inbound_hook_url,
        "BounceHookUrl": server.bounce_hook_url,
        "OpenHookUrl": server.open_hook_url,
        "DeliveryHookUrl": server.delivery_hook_url,
        "ClickHookUrl": server.click_hook_url,
        "PostFirstOpenOnly": server.post_first_open_only,
        "InboundDomain": server.inbound_domain,
        "InboundHash": server.inbound_hash,
        "InboundSpamThreshold": server.inbound_spam_threshold,
        "TrackOpens": server.track_opens,
        "TrackLinks": server.track_links,
        "IncludeBounceContentInHook": server.include_bounce_content_in_hook,
        "EnableSmtpApiErrorHooks": server.enable_smtp_api_error_hooks,
    }


# --- message streams --------------------------------------------------------------


def stream_json(stream: MessageStream) -> dict:
    """Postmark's message stream object (§8)."""
    return {
        "ID": stream.stream_id,
        "ServerID": stream.server_id,
        "Name": stream.name,
        "Description": stream.description,
        "MessageStreamType": stream.stream_type,
        "CreatedAt": iso(stream.created_at),
        "UpdatedAt": iso(stream.updated_at),
        "ArchivedAt": iso(stream.archived_at),
        "ExpectedPurgeDate": iso(stream.expected_purge_at),
        "SubscriptionManagementConfiguration": {
            "UnsubscribeHandlingType": stream.unsubscribe_handling
        },
    }


# --- domains --------------------------------------------------------------------


def _spf_text_value() -> str:
    return f"v=spf1 a mx include:{settings.RETURN_PATH_CNAME_TARGET} ~all"


def domain_list_json(domain: Domain) -> dict:
    """One row of ``GET /domains``."""
    return {
        "ID": domain.id,
        "Name": domain.name,
        "SPFVerified": domain.spf_verified,
        "DKIMVerified": domain.dkim_verified,
        "WeakDKIM": False,
        "ReturnPathDomainVerified": domain.return_path_verified,
    }


def domain_json(domain: Domain) -> dict:
    """Postmark's domain details object (§10.2).

    Until the DKIM record is seen in DNS the key is shown in the *Pending* fields
    and ``DKIMHost``/``DKIMTextValue`` are empty, as Postmark does for a new domain.
    """
    verified = domain.dkim_verified
    return {
        **domain_list_json(domain),
        "SPFHost": domain.name,
        "SPFTextValue": _spf_text_value(),
        "DKIMHost": domain.dkim_host if verified else "",
        "DKIMTextValue": domain.dkim_text_value if verified else "",
        "DKIMPendingHost": "" if verified else domain.dkim_host,
        "DKIMPendingTextValue": "" if verified else domain.dkim_text_value,
        "DKIMRevokedHost": "",
        "DKIMRevokedTextValue": "",
        "SafeToRemoveRevokedKeyFromDNS": False,
        "DKIMUpdateStatus": "Verified" if verified else "Pending",
        "ReturnPathDomain": domain.return_path_domain,
        "ReturnPathDomainVerified": domain.return_path_verified,
        "ReturnPathDomainCNAMEValue": settings.RETURN_PATH_CNAME_TARGET,
    }


def domain_input(data: Any) -> dict[str, Any]:
    """``POST /domains`` / ``PUT /domains/{id}`` body → ``{"name", "return_path_domain"}``
    (only the keys present). Raises 511 when the body is not a JSON object."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ApplicationError(511, "The request body must be a JSON object.")
    lowered = {str(key).lower(): value for key, value in data.items()}
    fields = {}
    if lowered.get("name") is not None:
        fields["name"] = lowered["name"]
    if lowered.get("returnpathdomain") is not None:
        fields["return_path_domain"] = lowered["returnpathdomain"]
    return fields


# --- paging and ids -----------------------------------------------------------------


def paging(request: Request, *, error_code: int) -> tuple[int, int]:
    """``count`` (1–500) and ``offset`` (≥ 0) from the query (keys in any case).

    Postmark requires both; we default to count=100, offset=0 when absent, the
    values postmark.js sends by default. Bad values raise ``error_code``.
    """
    raw_count = query_param(request, "count", default=str(DEFAULT_PAGE))
    raw_offset = query_param(request, "offset", default="0")
    try:
        count, offset = int(raw_count), int(raw_offset)
    except ValueError:
        count = offset = -1
    if not 1 <= count <= MAX_PAGE or offset < 0:
        raise ApplicationError(
            error_code,
            f"Paging needs count between 1 and {MAX_PAGE} and offset of 0 or more "
            f"(got count={raw_count!r}, offset={raw_offset!r}).",
        )
    return count, offset


def path_id(raw: str) -> int | None:
    """A numeric id from a URL path segment, or ``None`` for anything else."""
    if raw.isdigit() and len(raw) < 19:
        return int(raw)
    return None
