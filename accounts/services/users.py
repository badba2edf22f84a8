"""Writes for web UI users: account memberships and invitations."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from messages.validation import is_valid_address
from postmark_clone.errors import ApplicationError

from ..models import (
    Account,
    Membership,
    Server,
)

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
