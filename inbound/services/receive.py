"""Receiving at the MX: RCPT verdicts and storing one DATA."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from email.utils import parseaddr

from django.db import transaction
from django.utils import timezone

from accounts.models import Server
from messages.archive import archive_key, archive_put

from .. import parsing
from ..models import InboundMessage, InboundRule
from ..selectors import inbound_domains, inbound_route
from .common import NO_HOOK, Status


def inbound_rcpt_verdict(address: str) -> tuple[bool, str | None]:
    """``(handled, refusal)`` for ``RCPT TO:<address>`` at the MX.

    ``handled`` is False when the domain is not an inbound domain (the bounce
    MX decides then). For an inbound domain, ``refusal`` is ``None`` to accept
    or ``550 5.1.1`` (RFC 3463: bad destination mailbox) for an unknown
    InboundHash."""
    route = inbound_route(address)
    if not route.inbound:
        return False, None
    if route.server is None:
        clean = (address or "").strip().strip("<>")
        return (
            True,
            f"550 5.1.1 <{clean}>: Recipient address rejected: no such inbound address",
        )
    return True, None


def _senders(msg, mail_from: str) -> set[str]:
    """Lower-cased From address and envelope sender, and their domains: what
    inbound rules match against."""
    values = set()
    for address in (parseaddr(parsing.clean(msg.get("From", "")))[1], mail_from):
        address = (address or "").strip().lower()
        if "@" in address:
            values.add(address)
            values.add(address.rpartition("@")[2])
    return values


def _block_reason(*, server: Server, score: float | None, senders: set[str]) -> str:
    threshold = server.inbound_spam_threshold
    if threshold and score is not None and score > threshold:
        return (
            f"Spam score {score:g} is above the server's InboundSpamThreshold "
            f"of {threshold}."
        )
    rule = (
        InboundRule.objects.filter(server=server, rule__in=sorted(senders))
        .order_by("id")
        .values_list("rule", flat=True)
        .first()
        if senders
        else None
    )
    if rule:
        return f"Blocked by the inbound rule '{rule}'."
    return ""


@dataclass(frozen=True)
class Received:
    """What one DATA produced: the rows written (one per inbound recipient)."""

    messages: list[InboundMessage]


def inbound_receive(*, mail_from: str, rcpt_tos: list[str], raw: bytes) -> Received:
    """Record ``raw`` once per inbound envelope recipient and queue the hook POSTs.

    The raw message is archived first, once per server and outside any
    transaction (object storage is network I/O); then one transaction writes
    the rows, each ``blocked`` (spam score above the server's
    InboundSpamThreshold, or an inbound rule matching the From address, the
    envelope sender or their domains), ``processed`` (the server has no
    InboundHookUrl) or ``queued``. The MX answers 250 only after it commits,
    so nothing accepted is lost. Recipients whose server vanished since RCPT
    are skipped. Not idempotent: a message received twice is stored twice.
    """
    from ..tasks import inbound_deliver  # tasks import services; avoid a cycle

    now = timezone.now()
    msg = parsing.parse_message(raw)
    score = parsing.spam_score(msg)
    senders = _senders(msg, mail_from)
    routed: list[tuple[str, Server]] = []
    for rcpt in rcpt_tos:
        route = inbound_route(rcpt)
        if route.server is not None:
            routed.append((rcpt.strip().strip("<>"), route.server))
    keys: dict[int, str] = {}
    for _rcpt, server in routed:
        if server.id not in keys:
            keys[server.id] = archive_put(
                key=archive_key(
                    server_id=server.id,
                    kind="inbound",
                    when=now,
                    name=str(uuid.uuid4()),
                ),
                data=raw,
            )
    rows = []
    for rcpt, server in routed:
        message_id = uuid.uuid4()
        payload = parsing.inbound_payload(
            raw=raw,
            message_id=str(message_id),
            original_recipient=rcpt,
            mail_from=mail_from,
            received_at=now,
            inbound_domains=inbound_domains(server),
            with_content=False,
            parsed=msg,
        )
        reason = _block_reason(server=server, score=score, senders=senders)
        status = Status.QUEUED
        if reason:
            status = Status.BLOCKED
        elif not server.inbound_hook_url:
            status = Status.PROCESSED
        recipients = {rcpt.lower()}
        for item in payload["ToFull"] + payload["CcFull"]:
            recipients.add(item["Email"].lower())
        rows.append(
            InboundMessage(
                server=server,
                message_id=message_id,
                status=status,
                received_at=now,
                mail_from=parsing.clean(mail_from)[:320],
                original_recipient=rcpt[:320],
                mailbox_hash=payload["MailboxHash"][:320],
                from_email=payload["From"][:320],
                subject=payload["Subject"][:2000],
                recipients_text=",".join(sorted(recipients)),
                spam_score=score,
                summary=parsing.summary(payload),
                raw_key=keys[server.id],
                size=len(raw),
                blocked_reason=reason[:500],
                next_attempt_at=now if status == Status.QUEUED else None,
                processed_at=now if status == Status.PROCESSED else None,
                hook_response=(NO_HOOK if status == Status.PROCESSED else ""),
            )
        )
    with transaction.atomic():
        InboundMessage.objects.bulk_create(rows)
        for row in rows:
            if row.status == Status.QUEUED:
                inbound_deliver.delay_on_commit(row.id)
    return Received(messages=rows)
