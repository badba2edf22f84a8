"""Reads for inbound mail. Every lookup takes the server (tenant) and filters by
it, except the MX's routing, which is what finds the tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import Server
from messages.archive import archive_get

from .models import InboundMessage, InboundRule
from .parsing import inbound_payload

# Postmark's ``status`` filter values (lower-case) → our stored statuses.
STATUS_FILTERS = {
    status.value.lower(): status.value for status in InboundMessage.Status
}


@dataclass(frozen=True)
class Route:
    """Where one ``RCPT TO`` goes: ``inbound`` is True when the domain is ours
    for inbound mail; ``server`` is the tenant, or ``None`` when nobody has
    that address (the MX answers 550 5.1.1)."""

    inbound: bool
    server: Server | None = None


def inbound_route(address: str) -> Route:
    """Route ``address``: ``<InboundHash>[+MailboxHash]@INBOUND_ADDRESS_DOMAIN``
    or any local part at a server's ``InboundDomain``. One query at most."""
    address = (address or "").strip().strip("<>")
    local, _, domain = address.rpartition("@")
    domain = domain.lower().rstrip(".")
    if not local or not domain:
        return Route(inbound=False)
    if domain == settings.INBOUND_ADDRESS_DOMAIN.lower():
        inbound_hash = local.partition("+")[0].lower()
        server = (
            Server.objects.filter(inbound_hash=inbound_hash).first()
            if inbound_hash
            else None
        )
        return Route(inbound=True, server=server)
    server = Server.objects.filter(inbound_domain__iexact=domain).first()
    if server is not None:
        return Route(inbound=True, server=server)
    return Route(inbound=False)


def inbound_domains(server: Server) -> set[str]:
    """The domains whose addresses carry a MailboxHash for ``server``."""
    domains = {settings.INBOUND_ADDRESS_DOMAIN.lower()}
    if server.inbound_domain:
        domains.add(server.inbound_domain.lower())
    return domains


@dataclass
class InboundFilters:
    """Postmark's ``GET /messages/inbound`` filters (all optional; dates are
    inclusive aware bounds, ``status`` a key of ``STATUS_FILTERS``)."""

    recipient: str = ""
    fromemail: str = ""
    tag: str = ""
    subject: str = ""
    mailboxhash: str = ""
    status: str = ""
    fromdate: datetime | None = None
    todate: datetime | None = None


def _filtered(*, server: Server, filters: InboundFilters) -> QuerySet[InboundMessage]:
    qs = InboundMessage.objects.filter(server=server)
    if filters.recipient:
        qs = qs.filter(recipients_text__contains=filters.recipient.strip().lower())
    if filters.fromemail:
        qs = qs.filter(from_email__icontains=filters.fromemail.strip())
    if filters.tag:
        qs = qs.filter(tag=filters.tag)
    if filters.subject:
        qs = qs.filter(subject__icontains=filters.subject)
    if filters.mailboxhash:
        qs = qs.filter(mailbox_hash=filters.mailboxhash)
    if filters.status:
        qs = qs.filter(status=STATUS_FILTERS[filters.status.lower()])
    if filters.fromdate:
        qs = qs.filter(received_at__gte=filters.fromdate)
    if filters.todate:
        qs = qs.filter(received_at__lte=filters.todate)
    return qs


def inbound_list(
    *, server: Server, filters: InboundFilters, count: int, offset: int
) -> tuple[int, list[InboundMessage]]:
    """``(TotalCount, page)`` newest first. Two queries."""
    qs = _filtered(server=server, filters=filters)
    page = list(qs.order_by("-received_at", "-id")[offset : offset + count])
    return qs.count(), page


def inbound_get(*, server: Server, message_id: str) -> InboundMessage | None:
    """The server's inbound message with this Postmark MessageID, or ``None``
    (also for a malformed id or another tenant's message)."""
    try:
        value = uuid.UUID(str(message_id))
    except ValueError:
        return None
    return (
        InboundMessage.objects.select_related("server")
        .filter(server=server, message_id=value)
        .first()
    )


def inbound_details(*, message: InboundMessage) -> dict[str, Any]:
    """The full inbound JSON rebuilt from the archived raw message (attachment
    content left out, as Postmark's API never returns it; ``RawEmail`` when the
    server enables it). ``{}`` when the raw message is no longer stored."""
    raw = archive_get(key=message.raw_key)
    if raw is None:
        return {}
    return inbound_payload(
        raw=raw,
        message_id=str(message.message_id),
        original_recipient=message.original_recipient,
        mail_from=message.mail_from,
        received_at=message.received_at,
        inbound_domains=inbound_domains(message.server),
        tag=message.tag,
        raw_email=message.server.raw_email_enabled,
        with_content=False,
    )


def inbound_rule_list(
    *, server: Server, count: int, offset: int
) -> tuple[int, list[InboundRule]]:
    qs = InboundRule.objects.filter(server=server).order_by("id")
    return qs.count(), list(qs[offset : offset + count])
