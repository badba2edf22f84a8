"""System checks for tenancy settings."""

from __future__ import annotations

from django.conf import settings
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
