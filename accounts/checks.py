"""System checks for tenancy settings."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.checks import Error, register

from .dns import parse_resolver


@register()
def check_dns_resolvers(app_configs, **kwargs) -> list[Error]:
    """Every ``DNS_RESOLVERS`` entry must be ``ip`` or ``ip:port``."""
    errors = []
    for entry in settings.DNS_RESOLVERS:
        try:
            parse_resolver(entry)
        except ValueError:
            errors.append(
                Error(
                    f"DNS_RESOLVERS entry {entry!r} is not an IP address with an "
                    "optional port.",
                    hint='Use e.g. "1.1.1.1", "127.0.0.1:5353" or "[2001:db8::1]:53".',
                    id="accounts.E001",
                )
            )
    return errors


@register(deploy=True)
def check_unsubscribe_url(app_configs, **kwargs) -> list[checks.Warning]:
    """Broadcast unsubscribe links should be https: RFC 8058 one-click
    unsubscribe is only defined for an https URI, and mail clients ignore
    ``List-Unsubscribe-Post`` otherwise."""
    base = settings.UNSUBSCRIBE_BASE_URL or settings.SITE_URL
    if base.lower().startswith("https://"):
        return []
    return [
        checks.Warning(
            f"Broadcast unsubscribe links use {base!r}, which is not https.",
            hint="Set UNSUBSCRIBE_BASE_URL (or SITE_URL) to the public https URL.",
            id="accounts.W001",
        )
    ]
