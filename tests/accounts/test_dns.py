"""The DNS adapter against a real local DNS server."""

from __future__ import annotations

import pytest

from accounts import dns


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[2001:db8::53]:5300", ("2001:db8::53", 5300)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_resolver_entries_take_an_optional_port(entry, expected):
    assert dns.parse_resolver(entry) == expected


@pytest.mark.parametrize("entry", ["dns.google", "1.2.3.4:0", "1.2.3.4:x", "[::1]x"])
def test_bad_resolver_entries_are_refused(entry):
    with pytest.raises(ValueError):
        dns.parse_resolver(entry)


def test_long_txt_records_are_joined(dns_zone):
    value = "v=DKIM1; k=rsa; p=" + "A" * 600
    dns_zone.add_txt("sel._domainkey.example.test", value)
    assert dns.txt_records("sel._domainkey.example.test") == [value]


def test_missing_names_give_empty_answers(dns_zone):
    assert dns.txt_records("nothing.example.test") == []
    assert dns.cname_target("nothing.example.test") is None


def test_cname_targets_are_normalised(dns_zone):
    dns_zone.add_cname("rp.example.test", "PM.Bounces.Example.NET.")
    assert dns.cname_target("rp.example.test") == "pm.bounces.example.net"


def test_a_misconfigured_resolver_is_reported_by_a_system_check(settings):
    from accounts.checks import check_dns_resolvers

    settings.DNS_RESOLVERS = ["127.0.0.1:53", "resolver.example"]
    [error] = check_dns_resolvers(None)
    assert error.id == "accounts.E001"
    assert "resolver.example" in error.msg
    with pytest.raises(dns.DnsTemporaryError, match="misconfigured"):
        dns.txt_records("example.test")
