from __future__ import annotations

import base64

from tracking import tokens
from tracking.tokens import Token


def test_an_open_token_round_trips_and_is_short():
    text = tokens.encode(Token(kind=tokens.KIND_OPEN, recipient_id=123456789))
    assert len(text) <= 24
    assert all(c.isalnum() or c in "-_" for c in text)
    assert tokens.decode(text) == Token(kind="o", recipient_id=123456789)


def test_a_click_token_carries_its_destination_and_location():
    url = "https://shop.example.com/ünï?a=1&b=2#top"
    text = tokens.encode(Token(kind=tokens.KIND_CLICK_TEXT, recipient_id=7, url=url))
    decoded = tokens.decode(text)
    assert decoded is not None
    assert decoded.url == url
    assert decoded.click_location == "Text"


def test_any_altered_byte_makes_the_token_invalid():
    text = tokens.encode(
        Token(kind=tokens.KIND_CLICK_HTML, recipient_id=7, url="https://a.example/")
    )
    raw = bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    for index in range(len(raw)):
        forged = bytearray(raw)
        forged[index] ^= 0x01
        forged_text = base64.urlsafe_b64encode(bytes(forged)).rstrip(b"=").decode()
        assert tokens.decode(forged_text) is None


def test_a_token_made_with_another_secret_is_refused(settings):
    text = tokens.encode(Token(kind=tokens.KIND_OPEN, recipient_id=1))
    settings.SECRET_KEY = "another-secret-key-entirely-0123456789abcdef"
    assert tokens.decode(text) is None


def test_garbage_is_refused_not_an_error():
    for text in ["", "x", "!!!!", "a" * 9000, "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"]:
        assert tokens.decode(text) is None
