"""A tiny real authoritative DNS server for tests (dnslib, UDP, ephemeral port).

Tests add TXT/CNAME records to ``zone.records`` and point
``settings.DNS_RESOLVERS`` at ``zone.address``; the code under test then does
real DNS lookups over UDP with dnspython.
"""

from __future__ import annotations

from collections import defaultdict

from dnslib import CNAME, QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Quiet(DNSLogger):
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data")


class Zone(BaseResolver):
    """Records keyed by ``(lower-case name without trailing dot, "TXT"|"CNAME")``."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.queries: list[tuple[str, str]] = []
        self._server: DNSServer | None = None

    def add_txt(self, name: str, value: str) -> None:
        self.records[(name.lower().rstrip("."), "TXT")].append(value)

    def add_cname(self, name: str, target: str) -> None:
        self.records[(name.lower().rstrip("."), "CNAME")] = [target]

    def clear(self) -> None:
        self.records.clear()

    def resolve(self, request: DNSRecord, handler) -> DNSRecord:  # dnslib API
        reply = request.reply()
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        self.queries.append((qname, qtype))
        known_names = {name for name, _ in self.records if self.records[(name, _)]}
        if qname not in known_names:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        cname = self.records.get((qname, "CNAME"))
        if cname:
            reply.add_answer(RR(qname, QTYPE.CNAME, rdata=CNAME(cname[0]), ttl=60))
            return reply
        if qtype == "TXT":
            for value in self.records.get((qname, "TXT"), []):
                raw = value.encode()
                # RFC 1035 §3.3.14: character-strings of at most 255 octets.
                chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        return reply

    def start(self) -> str:
        self._server = DNSServer(self, address="127.0.0.1", port=0, logger=_Quiet())
        self._server.start_thread()
        host, port = self._server.server.server_address[:2]
        return f"{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server.server.server_close()
            self._server = None
