"""Direct delivery: where to connect for a recipient domain (dnspython).

RFC 5321 §5.1: MX records in increasing preference, hosts of equal preference
in random order; no MX record at all means the domain's own A/AAAA ("implicit
MX"); a lone MX of "." is a null MX (RFC 7505): the domain accepts no mail.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import dns.exception
import dns.resolver
from django.conf import settings


class MxError(Exception):
    """No usable destination. ``permanent`` (NXDOMAIN, null MX) means a 5xx-style
    failure for the recipient; otherwise (SERVFAIL, timeout) try again later."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Destination:
    host: str
    address: str


def make_resolver() -> dns.resolver.Resolver:
    """A resolver honouring ``DNS_RESOLVERS`` (``ip`` or ``ip:port`` entries)."""
    resolver = dns.resolver.Resolver(configure=not settings.DNS_RESOLVERS)
    if settings.DNS_RESOLVERS:
        first = settings.DNS_RESOLVERS[0]
        host, _, port = (
            first.rpartition(":") if first.count(":") == 1 else (first, "", "")
        )
        resolver.nameservers = [host or first]
        if port:
            resolver.port = int(port)
    resolver.lifetime = 10.0
    return resolver


def mx_hosts(
    domain: str, *, resolver: dns.resolver.Resolver | None = None
) -> list[str]:
    """Exchange host names for ``domain`` in the order to try them."""
    resolver = resolver or make_resolver()
    try:
        answer = resolver.resolve(domain, "MX")
    except dns.resolver.NXDOMAIN as exc:
        raise MxError(f"5.1.2 domain {domain} does not exist", permanent=True) from exc
    except dns.resolver.NoAnswer:
        return [domain]  # implicit MX (RFC 5321 §5.1)
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        raise MxError(
            f"4.4.3 DNS lookup for {domain} failed: {exc}", permanent=False
        ) from exc
    records = [(r.preference, r.exchange.to_text(omit_final_dot=True)) for r in answer]
    if len(records) == 1 and records[0][1] in ("", "."):
        raise MxError(f"5.1.10 {domain} accepts no mail (null MX)", permanent=True)
    random.shuffle(records)  # randomise ties; sort() is stable
    records.sort(key=lambda r: r[0])
    return [host for _pref, host in records if host not in ("", ".")]


def host_addresses(
    host: str, *, resolver: dns.resolver.Resolver | None = None
) -> list[str]:
    """IPv4 then IPv6 addresses of ``host`` (IPv4 first: many senders have no
    IPv6 route). An IP literal is returned as is."""
    if host.replace(".", "").isdigit() or ":" in host:
        return [host]
    resolver = resolver or make_resolver()
    out: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            out.extend(r.to_text() for r in resolver.resolve(host, rdtype))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except (dns.resolver.NoNameservers, dns.exception.Timeout):
            continue
    return out


def destinations(
    domain: str, *, resolver: dns.resolver.Resolver | None = None
) -> list[Destination]:
    """Every (host, address) to try for ``domain``, in order. Raises ``MxError``."""
    resolver = resolver or make_resolver()
    out = []
    for host in mx_hosts(domain, resolver=resolver):
        out.extend(
            Destination(host, ip) for ip in host_addresses(host, resolver=resolver)
        )
    if not out:
        raise MxError(
            f"4.4.4 no address for the mail hosts of {domain}", permanent=False
        )
    return out
