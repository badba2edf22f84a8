"""DNS lookups for sender-domain verification: the only dnspython importer here.

Resolvers come from ``settings.DNS_RESOLVERS``: each entry is an IP address with an
optional port (``192.0.2.53``, ``127.0.0.1:5353``, ``[2001:db8::53]:5353``); an
empty list means the system's resolv.conf. Answers are never cached here: a tenant
who just published a record and clicks "verify" must see the live answer.
"""

from __future__ import annotations

import ipaddress

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from django.conf import settings


class DnsTemporaryError(Exception):
    """The lookup could not be answered now (timeout, SERVFAIL, no server reachable).

    Distinct from "the record does not exist" (NXDOMAIN / no answer), which is a
    definitive answer and is reported as an empty result.
    """


def parse_resolver(entry: str) -> tuple[str, int]:
    """``"ip"``, ``"ip:port"`` or ``"[ipv6]:port"`` → ``(ip, port)``.

    Raises ``ValueError`` on anything that is not an IP address (resolver host
    names would need DNS themselves).
    """
    entry = entry.strip()
    host, port = entry, 53
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad DNS resolver {entry!r}")
            port = int(rest[1:])
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
        port = int(port_text)
    ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"bad DNS resolver port in {entry!r}")
    return host, port


def _resolver() -> dns.resolver.Resolver:
    entries = list(settings.DNS_RESOLVERS)
    resolver = dns.resolver.Resolver(configure=not entries)
    if entries:
        parsed = [parse_resolver(entry) for entry in entries]
        resolver.nameservers = [host for host, _ in parsed]
        resolver.nameserver_ports = dict(parsed)
    resolver.lifetime = settings.DNS_TIMEOUT_SECONDS
    resolver.timeout = settings.DNS_TIMEOUT_SECONDS
    return resolver


def _query(name: str, rdtype: str) -> dns.resolver.Answer | None:
    try:
        resolver = _resolver()
    except ValueError as exc:
        # Also reported by the accounts.E001 system check at startup.
        raise DnsTemporaryError(f"DNS_RESOLVERS is misconfigured: {exc}") from exc
    try:
        return resolver.resolve(
            dns.name.from_text(name), rdtype, raise_on_no_answer=False, search=False
        )
    except dns.resolver.NXDOMAIN:
        return None
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        # NoNameservers covers SERVFAIL and REFUSED from every configured server.
        raise DnsTemporaryError(f"DNS lookup of {rdtype} {name} failed: {exc}") from exc
    except (dns.exception.SyntaxError, dns.name.NameTooLong):
        # Not a valid DNS name: nothing can exist there.
        return None


def txt_records(name: str) -> list[str]:
    """Every TXT record at ``name``, each with its character-strings joined
    (RFC 7208 §3.3 / RFC 6376 §3.6.2.2: long values are split into 255-octet
    strings that the reader concatenates). ``[]`` when none exist.

    Raises ``DnsTemporaryError`` when DNS cannot answer. Safe to call repeatedly.
    """
    answer = _query(name, "TXT")
    if answer is None or answer.rrset is None:
        return []
    return [
        b"".join(rdata.strings).decode("utf-8", "replace")
        for rdata in answer.rrset
        if rdata.rdtype == dns.rdatatype.TXT
    ]


def cname_target(name: str) -> str | None:
    """The target of the CNAME at ``name`` (lower-case, no trailing dot), or
    ``None`` when there is no CNAME. Raises ``DnsTemporaryError`` when DNS cannot
    answer."""
    answer = _query(name, "CNAME")
    if answer is None or answer.rrset is None:
        return None
    for rdata in answer.rrset:
        if rdata.rdtype == dns.rdatatype.CNAME:
            return rdata.target.to_text(omit_final_dot=True).lower()
    return None
