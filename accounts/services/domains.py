"""Writes for sender domains: creation, DKIM keys and DNS verification."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from messages.dkim import dkim_keypair_generate
from postmark_clone.errors import ApplicationError

from .. import dns
from ..models import (
    Account,
    Domain,
)

# RFC 1035 host names (letters, digits, hyphens; at least two labels).
_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?!-)[a-z0-9-]{2,63}(?<!-)$"
)


def _domain_name(value: Any, *, missing_code: int = 514) -> str:
    """Lower-case ASCII (IDNA) form of a domain name, or Postmark's 514–516."""
    if not isinstance(value, str) or not value.strip():
        raise ApplicationError(missing_code, "The domain Name is required.")
    name = value.strip().rstrip(".").lower()
    if len(name) > 255:
        raise ApplicationError(515, "The domain Name must be at most 255 characters.")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # the format check below rejects it
    if not _DOMAIN_RE.match(name):
        raise ApplicationError(516, f"'{value}' is not a valid domain name.")
    return name


def _return_path(value: Any, domain_name: str) -> str:
    """Validate a Return-Path domain: empty, or a subdomain of the sender domain
    (its CNAME points at our bounce host, so SPF aligns under DMARC, RFC 7489)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ApplicationError(511, "ReturnPathDomain must be a string.")
    name = value.strip().rstrip(".").lower()
    if not _DOMAIN_RE.match(name) or not name.endswith("." + domain_name):
        raise ApplicationError(
            511,
            f"ReturnPathDomain '{value}' must be a subdomain of {domain_name}, "
            f"such as pm-bounces.{domain_name}.",
        )
    return name


def domain_create(
    *, account: Account, name: Any, return_path_domain: Any = ""
) -> Domain:
    """Create a sender domain with its own RSA-2048 DKIM key.

    The key is generated before touching the database (tens of milliseconds). It
    stays *pending* until ``domain_verify_dkim`` finds it in DNS. Raises
    ``ApplicationError`` 512 when the account already has the domain, 514–516 for
    a bad name, 511 for a bad Return-Path domain. Not idempotent.
    """
    domain_name = _domain_name(name)
    return_path = _return_path(return_path_domain, domain_name)
    if Domain.objects.filter(account=account, name=domain_name).exists():
        raise _domain_taken(domain_name)
    private_pem, public_b64 = dkim_keypair_generate()
    selector = timezone.now().strftime("%Y%m%d%H%M%S") + "pm"
    try:
        with transaction.atomic():
            return Domain.objects.create(
                account=account,
                name=domain_name,
                dkim_selector=selector,
                dkim_private_key=private_pem,
                dkim_public_key=public_b64,
                return_path_domain=return_path,
            )
    except IntegrityError as exc:
        raise _domain_taken(domain_name) from exc


def _domain_taken(name: str) -> ApplicationError:
    return ApplicationError(512, f"The domain '{name}' already exists on this account.")


def domain_update(*, domain: Domain, return_path_domain: Any) -> Domain:
    """Set (or clear, with ``""``) the domain's Return-Path domain.

    A changed value is unverified until ``domain_verify_return_path`` sees its
    CNAME. Raises ``ApplicationError`` 511 on a bad value. Safe to call twice.
    """
    new_value = _return_path(return_path_domain, domain.name)
    if new_value != domain.return_path_domain:
        domain.return_path_domain = new_value
        domain.return_path_verified = False
        domain.save(update_fields=["return_path_domain", "return_path_verified"])
    return domain


def domain_delete(*, domain: Domain) -> None:
    """Delete a sender domain and its DKIM key. Mail already queued keeps the
    signature it got at submission. Safe to call twice."""
    Domain.objects.filter(pk=domain.pk).delete()


def _dns_unavailable(exc: dns.DnsTemporaryError) -> ApplicationError:
    return ApplicationError(
        709, f"DNS did not answer the verification lookup; try again shortly ({exc})."
    )


def _dkim_tags(record: str) -> dict[str, str]:
    """RFC 6376 §3.2 tag-list: ``k=rsa; p=MIIB...`` → ``{"k": "rsa", "p": ...}``;
    whitespace inside values is folding and carries no meaning."""
    tags = {}
    for item in record.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            tags[key.strip().lower()] = "".join(value.split())
    return tags


def domain_verify_dkim(*, domain: Domain) -> Domain:
    """Look up the DKIM TXT record (``<selector>._domainkey.<domain>``) in live
    DNS and record whether it publishes this domain's public key.

    A missing or different record marks the key unverified again (the record may
    have been removed). DNS failures (timeout, SERVFAIL) leave the state as it was
    and raise ``ApplicationError`` 709. The lookup runs outside any transaction;
    the result is written by one UPDATE. Safe to call any number of times.
    """
    try:
        records = dns.txt_records(domain.dkim_host)
    except dns.DnsTemporaryError as exc:
        raise _dns_unavailable(exc) from exc
    verified = False
    for record in records:
        tags = _dkim_tags(record)
        if tags.get("v", "DKIM1") != "DKIM1" or tags.get("k", "rsa") != "rsa":
            continue
        if tags.get("p") == domain.dkim_public_key:
            verified = True
    if verified != domain.dkim_verified:
        domain.dkim_verified = verified
        domain.dkim_verified_at = timezone.now() if verified else None
        Domain.objects.filter(pk=domain.pk).update(
            dkim_verified=verified, dkim_verified_at=domain.dkim_verified_at
        )
    return domain


def domain_verify_return_path(*, domain: Domain) -> Domain:
    """Look up the Return-Path domain's CNAME in live DNS and record whether it
    points at ``settings.RETURN_PATH_CNAME_TARGET`` (our bounce host).

    With no Return-Path domain set, nothing is looked up and the domain stays
    unverified. DNS failures raise ``ApplicationError`` 709 and change nothing.
    Safe to call any number of times.
    """
    verified = False
    if domain.return_path_domain:
        try:
            target = dns.cname_target(domain.return_path_domain)
        except dns.DnsTemporaryError as exc:
            raise _dns_unavailable(exc) from exc
        expected = settings.RETURN_PATH_CNAME_TARGET.lower().rstrip(".")
        verified = target == expected
    if verified != domain.return_path_verified:
        domain.return_path_verified = verified
        Domain.objects.filter(pk=domain.pk).update(return_path_verified=verified)
    return domain
