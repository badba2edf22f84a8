"""Fixtures for the web UI: users with memberships, and realistic archive data
created through the real services (message_send writes the archive)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Membership
from accounts.services import user_create
from bounces.models import Bounce, Suppression
from bounces.services import bounce_record
from messages.email import OutboundEmail
from messages.models import Message, MessageEvent, Recipient
from messages.services import message_send

PASSWORD = "correct horse battery staple 42"


def unique_email(name: str = "user") -> str:
    # Unique per run: login failure counters live in Redis across test runs.
    return f"{name}-{uuid.uuid4().hex[:10]}@people.example.org"


def make_user(tenant, role: str = Membership.Role.ADMIN, email: str | None = None):
    return user_create(
        email=email or unique_email(),
        account=tenant.account,
        password=PASSWORD,
        role=role,
    ).user


def send(tenant, *, to: str = "alice@example.org", subject: str = "Hello", **kwargs):
    result = message_send(
        server=tenant.server,
        email=OutboundEmail(
            from_header=f"Acme <{tenant.sender}>",
            to=to,
            subject=subject,
            text_body=kwargs.pop("text_body", "Hi there"),
            html_body=kwargs.pop("html_body", "<p>Hi <b>there</b></p>"),
            **kwargs,
        ),
    )
    return Message.objects.get(message_id=result.message_id)


def deliver(message: Message, email: str, text: str = "250 2.0.0 OK queued") -> None:
    now = timezone.now()
    Recipient.objects.filter(message=message, email=email).update(
        status=Recipient.Status.DELIVERED, finished_at=now, attempts=1, last_reply=text
    )
    _settle(message)
    MessageEvent.objects.create(
        message=message,
        recipient=email,
        type=MessageEvent.Type.DELIVERED,
        details={"DeliveryMessage": text},
        created_at=now,
    )


def _settle(message: Message) -> None:
    """Mark the message Sent once every recipient is final (the delivery issue's
    rule), so pages show what users would see."""
    if not message.recipients.exclude(status__in=Recipient.FINAL_STATUSES).exists():
        Message.objects.filter(id=message.id).update(status=Message.Status.SENT)


RAW_DSN = (
    b"From: MAILER-DAEMON@mx.example.org\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Final-Recipient: rfc822; bob@example.org\r\nAction: failed\r\n"
    b"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--b--\r\n"
)


def hard_bounce(tenant, message: Message, email: str) -> Bounce:
    """A hard bounce as the bounces issue records it: inactive, suppressed, with
    the raw DSN archived."""
    bounce = bounce_record(
        server=tenant.server,
        message=message,
        email=email,
        bounce_type="HardBounce",
        details="550 5.1.1 user unknown",
        raw_report=RAW_DSN,
    )
    assert Suppression.objects.filter(bounce=bounce).exists()
    _settle(message)
    bounce.refresh_from_db()
    return bounce


@dataclass
class World:
    tenant: object
    other: object
    user: object
    client: Client
    message: Message
    bounce: Bounce
    other_message: Message
    other_bounce: Bounce


@pytest.fixture
def world(tenant, other_tenant) -> World:
    """A signed-in admin of ``tenant`` with a delivered message and a bounce, and
    a second tenant with its own message and bounce."""
    user = make_user(tenant)
    client = Client()
    client.force_login(user)
    message = send(tenant, to="alice@example.org, bob@example.org")
    deliver(message, "alice@example.org")
    bounce = hard_bounce(tenant, message, "bob@example.org")
    other_message = send(other_tenant, to="carol@example.org", subject="Globex secret")
    other_bounce = hard_bounce(other_tenant, other_message, "carol@example.org")
    return World(
        tenant, other_tenant, user, client, message, bounce, other_message, other_bounce
    )


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is not under test here; MD5 keeps the suite
    # fast on a shared machine (production settings are untouched).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
