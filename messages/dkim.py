"""DKIM (RFC 6376): key generation, signing and verification.

The only module that imports dkimpy. Keys are RSA-2048, generated with
``cryptography``.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def dkim_keypair_generate() -> tuple[str, str]:
    """Return ``(private_pem, public_b64)`` for a new RSA-2048 key.

    ``public_b64`` is the base64 DER SubjectPublicKeyInfo that goes into the
    ``p=`` tag of the DNS TXT record.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, base64.b64encode(public_der).decode()
