"""User-agent classification: the only importer of ``ua_parser`` (its rules are
bundled in ``ua-parser-builtins``; nothing is fetched over the network).

``classify`` maps a User-Agent header to Postmark's ``Client``, ``OS`` and
``Platform`` fields. Results are cached: a mailing's opens come from a handful
of distinct clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

# Image proxies of web mail services fetch the pixel on the reader's behalf.
_WEBMAIL = {
    "GmailImageProxy": ("Gmail", "Google", "Gmail"),
    "YahooMailProxy": ("Yahoo Mail", "Yahoo", "Yahoo Mail"),
}
_WEBMAIL_MARKERS = (
    ("googleimageproxy", ("Gmail", "Google", "Gmail")),
    ("yahoomailproxy", ("Yahoo Mail", "Yahoo", "Yahoo Mail")),
    ("ymailproxy", ("Yahoo Mail", "Yahoo", "Yahoo Mail")),
    ("outlook-web", ("Outlook.com", "Microsoft", "Outlook.com")),
)
_CLIENT_COMPANY = {
    "Chrome": "Google",
    "Chrome Mobile": "Google",
    "Chrome Mobile iOS": "Google",
    "Chromium": "Google",
    "Firefox": "Mozilla",
    "Firefox Mobile": "Mozilla",
    "Firefox iOS": "Mozilla",
    "Thunderbird": "Mozilla",
    "Safari": "Apple",
    "Mobile Safari": "Apple",
    "Apple Mail": "Apple",
    "Edge": "Microsoft",
    "IE": "Microsoft",
    "Outlook": "Microsoft",
    "Opera": "Opera Software",
    "Samsung Internet": "Samsung",
}
_OS_COMPANY = {
    "Windows": "Microsoft",
    "Mac OS X": "Apple",
    "iOS": "Apple",
    "Android": "Google",
    "Chrome OS": "Google",
    "Linux": "",
    "Ubuntu": "Canonical",
}
_DESKTOP_OS = ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora")
_MOBILE_OS = ("iOS", "Android", "iPadOS", "Windows Phone")


@dataclass(frozen=True)
class Agent:
    client_name: str = ""
    client_company: str = ""
    client_family: str = ""
    os_name: str = ""
    os_company: str = ""
    os_family: str = ""
    platform: str = "Unknown"


@lru_cache(maxsize=4096)
def classify(user_agent: str) -> Agent:
    """Postmark's client/OS/platform for ``user_agent`` (empty fields when
    unknown). Pure and cached."""
    if not user_agent:
        return Agent()
    lowered = user_agent.lower()
    for marker, client in _WEBMAIL_MARKERS:
        if marker in lowered:
            return Agent(*client, platform="WebMail")
    result = parse(user_agent[:1000])
    family = result.user_agent.family if result.user_agent else ""
    if family in _WEBMAIL:
        return Agent(*_WEBMAIL[family], platform="WebMail")
    os_family = result.os.family if result.os else ""
    if family == "Mobile Safari UI/WKWebView" or (
        family in ("", "Other") and os_family in ("iOS", "Mac OS X")
    ):
        family = "Apple Mail"  # the Mail apps render with a bare WebKit view
    if family == "Other":
        family = ""
    name = family
    if family and result.user_agent and result.user_agent.major:
        name = f"{family} {result.user_agent.major}"
    os_name = os_family
    if os_family and result.os and result.os.major:
        os_name = f"{os_family} {result.os.major}"
    if os_family == "Other":
        os_family = os_name = ""
    device = result.device.family if result.device else ""
    if os_family in _MOBILE_OS or device in ("iPhone", "iPad") or "mobile" in lowered:
        platform = "Mobile"
    elif os_family in _DESKTOP_OS:
        platform = "Desktop"
    else:
        platform = "Unknown"
    return Agent(
        client_name=name,
        client_company=_CLIENT_COMPANY.get(family, ""),
        client_family=family,
        os_name=os_name,
        os_company=_OS_COMPANY.get(os_family, ""),
        os_family=os_family,
        platform=platform,
    )
