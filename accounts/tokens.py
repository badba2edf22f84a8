"""API token generation and hashing (pure functions, no ORM)."""

from __future__ import annotations

import hashlib
import uuid

PREFIX_LENGTH = 12


def token_generate() -> str:
    """A new random token, UUID-shaped like Postmark's (122 random bits)."""
    return str(uuid.uuid4())


def token_normalize(raw: str) -> str:
    # Postmark documents token values as case-insensitive.
    return raw.strip().lower()


def token_prefix(token: str) -> str:
    return token_normalize(token)[:PREFIX_LENGTH]


def token_hash(token: str) -> str:
    # Tokens carry 122 random bits, so a fast hash is enough: nobody can brute
    # force the input space, and lookups must stay cheap on every API request.
    return hashlib.sha256(token_normalize(token).encode()).hexdigest()
