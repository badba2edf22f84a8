"""Address-list parsing: the shapes clients send, and Postmark's error texts."""

from __future__ import annotations

import pytest

from messages.validation import parse_address_list, parse_from, split_addresses
from postmark_clone.errors import ApplicationError


@pytest.mark.parametrize(
    ("value", "pieces"),
    [
        ("a@x.org,b@y.org", ["a@x.org", "b@y.org"]),
        (" a@x.org , , b@y.org ", ["a@x.org", "b@y.org"]),
        ('"Smith, Jo" <j@x.org>, b@y.org', ['"Smith, Jo" <j@x.org>', "b@y.org"]),
        ("j@x.org (Smith, Jo), b@y.org", ["j@x.org (Smith, Jo)", "b@y.org"]),
        ('"a \\" , b" <q@x.org>', ['"a \\" , b" <q@x.org>']),
    ],
)
def test_split_addresses_respects_quotes_and_comments(value, pieces):
    assert split_addresses(value) == pieces


def test_parse_address_list_returns_names_and_addr_specs():
    assert parse_address_list("To", '"Smith, Jo" <j@x.org>, b@y.org') == [
        ("Smith, Jo", "j@x.org"),
        ("", "b@y.org"),
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("a@localhost", "a@localhost"), ("Jo <jo@>", "jo@"), ("ok@x.org, nope", "nope")],
)
def test_a_bad_address_is_quoted_back_the_way_anymail_parses_it(value, shown):
    with pytest.raises(ApplicationError) as caught:
        parse_address_list("Cc", value)
    assert caught.value.code == 300
    assert caught.value.message == f"Invalid 'Cc' address: '{shown}'."


def test_parse_from_keeps_the_first_of_several_senders():
    assert parse_from("Acme <a@acme.example>, b@other.example") == (
        "Acme",
        "a@acme.example",
    )
