"""Writes for tenancy: accounts, servers, streams, domains and tokens."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from messages.dkim import dkim_keypair_generate
from messages.validation import is_valid_address
from postmark_clone.errors import ApplicationError

from . import dns
from .models import (
    Account,
    AccountToken,
    Domain,
    Membership,
    MessageStream,
    Server,
    ServerToken,
)
from .tokens import token_generate, token_hash, token_prefix

DEFAULT_STREAMS = (
    (
        "outbound",
        "Default Transactional Stream",
        MessageStream.Type.TRANSACTIONAL,
        "None",
    ),
    ("inbound", "Default Inbound Stream", MessageStream.Type.INBOUND, "None"),
    (
        "broadcast",
        "Default Broadcast Stream",
        MessageStream.Type.BROADCASTS,
        "Postmark",
    ),
)


T = TypeVar("T")


@dataclass(frozen=True)
class Created(Generic[T]):
    """A freshly created object plus the one-time plaintext of its token."""

    obj: T
    token: str


def account_create(*, name: str) -> Created[Account]:
    """Create an account with one account token. Not idempotent."""
    with transaction.atomic():
        account = Account.objects.create(name=name)
        token = account_token_create(account=account).token
    return Created(account, token)


def account_token_create(*, account: Account, name: str = "") -> Created[AccountToken]:
    plaintext = token_generate()
    row = AccountToken.objects.create(
        account=account,
        prefix=token_prefix(plaintext),
        token_hash=token_hash(plaintext),
        name=name,
    )
    return Created(row, plaintext)


def server_token_create(*, server: Server, name: str = "") -> Created[ServerToken]:
    """Add a server API token. The plaintext is returned once and never stored."""
    plaintext = token_generate()
    row = ServerToken.objects.create(
        server=server,
        prefix=token_prefix(plaintext),
        token_hash=token_hash(plaintext),
        name=name,
    )
    return Created(row, plaintext)


def token_revoke(*, token: AccountToken | ServerToken) -> None:
    """Revoke a token; safe to call twice."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def server_create(*, account: Account, name: str, **fields: Any) -> Created[Server]:
    """Create a server with its default streams (``outbound``, ``inbound``,
    ``broadcast``) and a first API token.

    ``fields`` are snake_case server settings (see ``SERVER_FIELDS``) plus
    ``delivery_type``, which is fixed from then on. Raises ``ApplicationError``
    with Postmark's server codes (603 name taken, 606–613 bad values). Not
    idempotent: a second call with the same name fails with 603.
    """
    delivery_type = fields.pop("delivery_type", None)
    server = Server(account=account, inbound_hash=secrets.token_hex(16))
    if delivery_type is not None:
        server.delivery_type = _choice(
            delivery_type, Server.DeliveryType, 613, "DeliveryType"
        )
    values = _server_clean({"name": name, **fields})
    _server_name_free(account_id=account.id, name=values["name"])
    for field, value in values.items():
        setattr(server, field, value)
    try:
        with transaction.atomic():
            server.save()
            MessageStream.objects.bulk_create(
                MessageStream(
                    server=server,
                    stream_id=stream_id,
                    name=stream_name,
                    stream_type=stream_type,
                    unsubscribe_handling=unsubscribe,
                )
                for stream_id, stream_name, stream_type, unsubscribe in DEFAULT_STREAMS
            )
            token = server_token_create(server=server).token
    except IntegrityError as exc:
        # A concurrent create won the unique (account, name) race.
        raise _name_taken(server.name) from exc
    return Created(server, token)


def server_update(*, server: Server, **fields: Any) -> Server:
    """Change any subset of a server's editable settings (``SERVER_FIELDS``).

    ``delivery_type`` is fixed at creation and ignored here, as Postmark does.
    Raises ``ApplicationError`` (603, 606–613) and leaves the row unchanged on bad
    input. Safe to call twice with the same values.
    """
    fields.pop("delivery_type", None)
    if not fields:
        return server
    values = _server_clean(fields)
    if "name" in values:
        _server_name_free(
            account_id=server.account_id, name=values["name"], exclude_id=server.id
        )
    for field, value in values.items():
        setattr(server, field, value)
    try:
        server.save(update_fields=sorted(values))
    except IntegrityError as exc:
        raise _name_taken(server.name) from exc
    return server


def server_delete(*, server: Server) -> None:
    """Delete a server with its streams, tokens, messages, bounces and
    suppressions (database cascade). Raw MIME already in the archive storage is
    left for the retention sweeper. Safe to call twice (the second does nothing).
    """
    Server.objects.filter(pk=server.pk).delete()


SERVER_FIELDS = frozenset(
    {
        "name",
        "color",
        "smtp_api_activated",
        "raw_email_enabled",
        "track_opens",
        "track_links",
        "inbound_domain",
        "inbound_spam_threshold",
        "inbound_hook_url",
        "bounce_hook_url",
        "open_hook_url",
        "delivery_hook_url",
        "click_hook_url",
        "post_first_open_only",
        "include_bounce_content_in_hook",
        "enable_smtp_api_error_hooks",
    }
)
_HOOK_FIELDS = {
    "inbound_hook_url": "InboundHookUrl",
    "bounce_hook_url": "BounceHookUrl",
    "open_hook_url": "OpenHookUrl",
    "delivery_hook_url": "DeliveryHookUrl",
    "click_hook_url": "ClickHookUrl",
}


def _server_clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate ``fields`` with Postmark's codes; return their canonical values."""
    unknown = set(fields) - SERVER_FIELDS
    if unknown:
        raise ApplicationError(403, f"Unknown server field(s): {sorted(unknown)}.")
    values: dict[str, Any] = {}
    for field, value in fields.items():
        if field == "name":
            name = value.strip() if isinstance(value, str) else ""
            if not name or len(name) > 255 or "\n" in name or "\r" in name:
                raise ApplicationError(
                    608, "The server Name is required and must be 1–255 characters."
                )
            values[field] = name
        elif field == "color":
            values[field] = _choice(value, Server.Color, 607, "Color")
        elif field == "track_links":
            values[field] = _choice(value, Server.TrackLinks, 612, "TrackLinks")
        elif field == "inbound_spam_threshold":
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 <= value <= 30
                or value % 5
            ):
                raise ApplicationError(
                    611, "InboundSpamThreshold must be 0–30 in steps of 5."
                )
            values[field] = value
        elif field in _HOOK_FIELDS:
            values[field] = _hook_url(value, _HOOK_FIELDS[field])
        elif field == "inbound_domain":
            if not isinstance(value, str):
                raise ApplicationError(403, "InboundDomain must be a string.")
            domain = value.strip().lower()
            if domain and not _DOMAIN_RE.match(domain):
                raise ApplicationError(403, f"InboundDomain '{value}' is not a domain.")
            values[field] = domain
        else:
            if not isinstance(value, bool):
                raise ApplicationError(403, f"The '{field}' setting must be a boolean.")
            values[field] = value
    return values


def _choice(value: Any, choices: Any, code: int, label: str) -> str:
    """Match ``value`` against a TextChoices ignoring case (Postmark's
    recordings show ``"red"`` for ``Red``) and return the canonical spelling."""
    if isinstance(value, str):
        for choice in choices.values:
            if choice.lower() == value.strip().lower():
                return choice
    allowed = ", ".join(choices.values)
    raise ApplicationError(code, f"Invalid {label} '{value}'. Use one of: {allowed}.")


def _hook_url(value: Any, label: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in {"http", "https"} and parts.hostname and len(value) <= 2000:
            return value.strip()
    raise ApplicationError(606, f"{label} must be an http or https URL.")


def _server_name_free(*, account_id: int, name: str, exclude_id: int | None = None):
    taken = Server.objects.filter(account_id=account_id, name=name)
    if exclude_id is not None:
        taken = taken.exclude(pk=exclude_id)
    if taken.exists():
        raise _name_taken(name)


def _name_taken(name: str) -> ApplicationError:
    return ApplicationError(603, f"A server named '{name}' already exists.")


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


# --- Web UI users and memberships ----------------------------------------------


@dataclass(frozen=True)
class Invitation:
    """Outcome of ``membership_invite``: the user, and for a pending user the
    one-time ``uidb64``/``token`` pair of the link that lets them set a password."""

    user: AbstractUser
    membership: Membership
    pending: bool
    uidb64: str = ""
    token: str = ""
    # False when the pending user already belongs to another account: whoever
    # holds the link gets into that account too, so only the invitee's mailbox
    # may receive it (never this inviter's screen).
    link_may_be_shown: bool = True


def _normalize_email(email: str) -> str:
    address = (email or "").strip().lower()
    if not is_valid_address(address):
        raise ApplicationError(300, f"Invalid email address: '{email}'.")
    return address


def user_create(
    *, email: str, account: Account, password: str, role: str = Membership.Role.ADMIN
) -> Membership:
    """Create (or update the password of) the web UI user ``email`` and give it
    ``role`` on ``account``. Raises ``ApplicationError`` 300 for an invalid address
    or a password the validators reject. Safe to call twice (updates in place)."""
    address = _normalize_email(email)
    User = get_user_model()
    user = User.objects.filter(username=address).first()
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ApplicationError(300, " ".join(exc.messages)) from exc
    with transaction.atomic():
        if user is None:
            user = User.objects.create_user(
                username=address, email=address, password=password
            )
        else:
            user.set_password(password)
            user.is_active = True
            user.save(update_fields=["password", "is_active"])
        membership, _ = Membership.objects.update_or_create(
            user=user, account=account, defaults={"role": role}
        )
    return membership


def membership_invite(*, account: Account, email: str, role: str) -> Invitation:
    """Give ``email`` access to ``account``. An unknown address becomes a pending
    (inactive, password-less) user with a one-time link token; an existing active
    user simply gains the membership. Safe to call twice (re-issues the token)."""
    address = _normalize_email(email)
    if role not in Membership.Role.values:
        raise ApplicationError(300, f"Unknown role '{role}'.")
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(username=address).first()
        if user is None:
            user = User(username=address, email=address, is_active=False)
            user.set_unusable_password()
            user.save()
        membership, created = Membership.objects.get_or_create(
            user=user, account=account, defaults={"role": role}
        )
        if not created and membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    if user.is_active and user.has_usable_password():
        return Invitation(user=user, membership=membership, pending=False)
    # Django's reset tokens hash the password and last login, so the link stops
    # working the moment it has been used to set a password (one-time).
    return Invitation(
        user=user,
        membership=membership,
        pending=True,
        uidb64=urlsafe_base64_encode(force_bytes(user.pk)),
        token=default_token_generator.make_token(user),
        link_may_be_shown=not Membership.objects.filter(user=user)
        .exclude(account=account)
        .exists(),
    )


def invitation_user(*, uidb64: str, token: str) -> AbstractUser | None:
    """The pending user an invitation link belongs to, or ``None`` when the link
    is malformed, expired (``PASSWORD_RESET_TIMEOUT``) or already used."""
    User = get_user_model()
    try:
        pk = force_str(urlsafe_base64_decode(uidb64))
        user = User.objects.filter(pk=int(pk)).first()
    except (ValueError, TypeError, OverflowError):
        return None
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def invitation_accept(*, user: AbstractUser, password: str) -> None:
    """Activate an invited user with ``password`` (which consumes the link).
    Raises ``ApplicationError`` 300 when the password validators reject it."""
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ApplicationError(300, " ".join(exc.messages)) from exc
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])


def invitation_email_send(*, email: str, account: Account, link: str) -> bool:
    """Send the invitation link through the platform itself, from the system
    server ``INVITE_SERVER_ID`` as ``INVITE_FROM``. Returns ``False`` when no
    system server is configured (the caller shows the link instead). Raises
    ``ApplicationError`` when the send is refused. Not idempotent (sends again).
    Does network/storage I/O: never call inside a transaction."""
    from messages.email import OutboundEmail
    from messages.services import message_send

    server_id = getattr(settings, "INVITE_SERVER_ID", None)
    sender = getattr(settings, "INVITE_FROM", "")
    if not server_id or not sender:
        return False
    server = Server.objects.filter(id=server_id).first()
    if server is None:
        raise ApplicationError(1001, "INVITE_SERVER_ID names no server.")
    text = (
        f"You have been invited to the account “{account.name}”.\n\n"
        f"Choose a password to sign in (the link works once):\n{link}\n"
    )
    message_send(
        server=server,
        email=OutboundEmail(
            from_header=sender,
            to=email,
            subject=f"Invitation to {account.name}",
            text_body=text,
            tag="invitation",
        ),
    )
    return True


def server_settings_update(*, server: Server, fields: dict[str, object]) -> Server:
    """Update the web-editable server settings (hook URLs, retention). Only the
    names in ``SERVER_EDITABLE_FIELDS`` are accepted; the model's constraints are
    validated first (``ApplicationError`` 300). Safe to call twice."""
    unknown = set(fields) - SERVER_EDITABLE_FIELDS
    if unknown:
        raise ApplicationError(300, f"Not editable: {', '.join(sorted(unknown))}.")
    for name, value in fields.items():
        setattr(server, name, value)
    try:
        server.full_clean(exclude=["account"], validate_unique=False)
    except ValidationError as exc:
        raise ApplicationError(300, " ".join(exc.messages)) from exc
    server.save(update_fields=sorted(fields))
    return server


SERVER_EDITABLE_FIELDS = frozenset(
    {
        "bounce_hook_url",
        "delivery_hook_url",
        "open_hook_url",
        "click_hook_url",
        "inbound_hook_url",
        "retention_days",
    }
)
