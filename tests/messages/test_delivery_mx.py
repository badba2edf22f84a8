"""Direct delivery (``mx://`` routes): MX order, A fallback, null MX, NXDOMAIN.

A tiny authoritative DNS server on a loopback UDP port answers dnspython; the
receiving SMTP server listens on 127.0.0.3 (Linux routes all of 127/8 to lo).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from messages import mx
from messages.delivery import delivery_run
from messages.models import Message
from messages.sink import SinkServer, SinkState

from .test_delivery_service import events, send

pytestmark = pytest.mark.django_db


class DnsServer:
    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.names = {name for name, _ in records}
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True)
            rdtype = dns.rdatatype.to_text(question.rdtype)
            values = self.records.get((name, rdtype))
            if values:
                response.answer.append(
                    dns.rrset.from_text(question.name, 60, "IN", rdtype, *values)
                )
            elif name not in self.names:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), addr)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def receiver(clean_health) -> Iterator[SinkServer]:
    server = SinkServer(SinkState(keep_in_memory=True), host="127.0.0.3").start()
    yield server
    server.stop()


@pytest.fixture
def dns_zone(settings, receiver) -> Iterator[DnsServer]:
    server = DnsServer(
        {
            ("example.org", "MX"): ["20 mx2.example.org.", "10 mx1.example.org."],
            ("mx1.example.org", "A"): ["127.0.0.2"],  # nothing listens there
            ("mx2.example.org", "A"): ["127.0.0.3"],
            ("implicit.example", "A"): ["127.0.0.3"],
            ("nomail.example", "MX"): ["0 ."],
        }
    )
    settings.DNS_RESOLVERS = [f"127.0.0.1:{server.port}"]
    settings.SENDER_POOL = f"mx://?helo=out.test&port={receiver.port}&tls=none"
    yield server
    server.close()


def test_mx_hosts_come_in_preference_order(dns_zone):
    assert mx.mx_hosts("example.org") == ["mx1.example.org", "mx2.example.org"]


def test_a_domain_without_mx_is_its_own_mail_host(dns_zone):
    assert mx.destinations("implicit.example") == [
        mx.Destination("implicit.example", "127.0.0.3")
    ]


def test_a_null_mx_and_a_missing_domain_are_permanent(dns_zone):
    for domain in ("nomail.example", "missing.example"):
        with pytest.raises(mx.MxError) as info:
            mx.destinations(domain)
        assert info.value.permanent


def test_it_delivers_to_the_next_mx_when_the_first_refuses(tenant, dns_zone, receiver):
    message = send(tenant, to="alice@example.org")
    assert delivery_run(message_ids=[message.id]).delivered == 1
    assert receiver.state.received[0].rcpt_tos == ["alice@example.org"]
    delivered = message.events.get(type="Delivered")
    assert delivered.details["DestinationServer"] == "mx2.example.org"
    assert delivered.details["DestinationIP"] == "127.0.0.3"


def test_it_delivers_to_the_a_record_without_mx(tenant, dns_zone, receiver):
    message = send(tenant, to="bob@implicit.example")
    assert delivery_run(message_ids=[message.id]).delivered == 1


def test_a_domain_that_takes_no_mail_bounces(tenant, dns_zone, receiver):
    message = send(tenant, to="carol@nomail.example")
    delivery_run(message_ids=[message.id])
    assert events(message) == [("Bounced", "carol@nomail.example")]
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
