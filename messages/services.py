"""Writes for messages: accepting a submission durably.

``message_send`` is the single entry point for the HTTP API and SMTP submission.
It validates, composes the MIME, writes it to the archive, and commits the message
and its recipients in one short transaction; delivery is dispatched on commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import getaddresses

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Domain, MessageStream, Server
from postmark_clone.errors import ApplicationError

from . import mime, validation
from .archive import archive_key, archive_put
from .email import OutboundEmail
from .models import Message, Recipient


@dataclass
class SendResult:
    """What the edge reports back: Postmark's ``{To, SubmittedAt, MessageID, Message}``."""

    message_id: str
    submitted_at: datetime
    to: str
    message: str = "OK"
    inactive: list[str] = field(default_factory=list)


@dataclass
class _Prepared:
    email: OutboundEmail
    message: Message
    recipients: list[Recipient]
    raw: bytes
    result: SendResult


class SendContext:
    """Per-call caches so a batch of 500 reads streams and domains once.

    A long-lived edge (SMTP) may keep one per server and thread for a couple of
    seconds and pass it to ``message_send_batch(context=...)``: streams and
    domains are then read once per interval, not once per batch. Suppressions
    are never reused across batches.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self._streams: dict[str, MessageStream | None] = {}
        self._domains: list[Domain] | None = None
        # Every recipient address of the batch (lower-cased), for ``inactive``.
        self.candidates: set[str] = set()
        self._inactive: dict[str, tuple[set[str], set[str]]] = {}

    def stream(self, stream_id: str) -> MessageStream | None:
        key = stream_id.lower()
        if key not in self._streams:
            self._streams[key] = MessageStream.objects.filter(
                server=self.server, stream_id=key, archived_at__isnull=True
            ).first()
        return self._streams[key]

    def inactive(self, stream_id: str, addresses: list[str]) -> list[str]:
        """The lower-cased ``addresses`` suppressed on the stream. One query per
        stream and batch: the first call looks up every address of the batch
        (``candidates``), later calls are answered from that."""
        from bounces.models import Suppression  # bounces depends on messages

        wanted = {a.lower() for a in addresses}
        if not wanted:
            return []
        checked, found = self._inactive.setdefault(stream_id, (set(), set()))
        missing = wanted - checked
        if missing:
            lookup = missing | (self.candidates - checked)
            found.update(
                Suppression.objects.filter(
                    server=self.server, message_stream=stream_id, email__in=lookup
                ).values_list("email", flat=True)
            )
            checked.update(lookup)
        return [a for a in dict.fromkeys(a.lower() for a in addresses) if a in found]

    def sender_domain(self, address: str) -> Domain | None:
        if self._domains is None:
            self._domains = list(
                Domain.objects.filter(account_id=self.server.account_id)
            )
        host = address.rpartition("@")[2].lower()
        matches = [
            d for d in self._domains if host == d.name or host.endswith("." + d.name)
        ]
        return max(matches, key=lambda d: len(d.name)) if matches else None


def message_validate(*, email: OutboundEmail, server: Server | None) -> None:
    """Run every check ``message_send`` would, without storing anything.

    With ``server=None`` (the ``POSTMARK_API_TEST`` token) only the checks that
    need no tenant run. Raises ``ApplicationError``; safe to call any number of times.
    """
    if server is None:
        _check_structure(email)
        return
    _prepare(email=email, ctx=SendContext(server), now=timezone.now(), check_only=True)


def message_send(*, server: Server, email: OutboundEmail) -> SendResult:
    """Accept one message: validate, archive its MIME, commit, dispatch delivery.

    Returns only after the message row and its raw MIME are durable. Raises
    ``ApplicationError`` for invalid input (nothing is stored then). Not idempotent:
    each call is a new message.
    """
    result = message_send_batch(server=server, emails=[email])[0]
    if isinstance(result, ApplicationError):
        raise result
    return result


def message_send_batch(
    *,
    server: Server,
    emails: list[OutboundEmail | ApplicationError],
    context: SendContext | None = None,
) -> list[SendResult | ApplicationError]:
    """Accept many messages at once; one result or error per input, in order.

    Items that are already ``ApplicationError`` (the edge could not parse them)
    are passed through. Valid items are committed together in one transaction.
    ``context`` (same server, one thread at a time) reuses stream and domain
    lookups from earlier calls.
    """
    if context is not None and context.server.id == server.id:
        ctx = context
        ctx.candidates, ctx._inactive = set(), {}
    else:
        ctx = SendContext(server)
    for email in emails:
        if isinstance(email, OutboundEmail):
            if email.raw is not None:
                ctx.candidates.update(
                    a.lower() for a in email.envelope_recipients or []
                )
            else:
                pairs = getaddresses([email.to, email.cc, email.bcc])
                ctx.candidates.update(a.lower() for _n, a in pairs if a)
    now = timezone.now()
    results: list[SendResult | ApplicationError] = []
    prepared: list[_Prepared] = []
    for email in emails:
        if isinstance(email, ApplicationError):
            results.append(email)
            continue
        try:
            item = _prepare(email=email, ctx=ctx, now=now)
        except ApplicationError as exc:
            results.append(exc)
            continue
        assert item is not None
        prepared.append(item)
        results.append(item.result)
    if prepared:
        _store(prepared)
    return results


def _check_structure(
    email: OutboundEmail,
) -> tuple[str, str, list[tuple[str, str, str]]]:
    """Checks that need no database. Returns (from_name, from_address, recipients)."""
    from_name, from_address = validation.parse_from(email.from_header)
    recipients: list[tuple[str, str, str]] = []
    if email.raw is None:
        for kind, field_name, value in (
            (Recipient.Kind.TO, "To", email.to),
            (Recipient.Kind.CC, "Cc", email.cc),
            (Recipient.Kind.BCC, "Bcc", email.bcc),
        ):
            for _name, address in validation.parse_address_list(field_name, value):
                recipients.append((kind, address, field_name))
        if email.reply_to:
            validation.parse_address_list("Reply-To", email.reply_to)
        validation.reject_line_breaks("Subject", email.subject)
        validation.reject_line_breaks("Tag", email.tag)
        if email.html_body is None and email.text_body is None:
            raise ApplicationError(
                300, "Provide either email TextBody or HtmlBody or both."
            )
        for name, value in email.headers:
            validation.check_header_name(name)
            validation.reject_line_breaks(f"Header {name}", value)
        for attachment in email.attachments:
            validation.check_attachment_name(attachment.name)
            validation.reject_line_breaks(
                "Attachments ContentType", attachment.content_type
            )
            validation.reject_line_breaks(
                "Attachments ContentID", attachment.content_id
            )
    else:
        # SMTP: the envelope decides who receives; the headers only say how each
        # recipient was addressed (an envelope-only recipient is a Bcc).
        cc_set = {a.lower() for _n, a in getaddresses([email.cc]) if a}
        bcc_set = {a.lower() for _n, a in getaddresses([email.bcc]) if a}
        for address in email.envelope_recipients or []:
            if not validation.is_valid_address(address):
                raise ApplicationError(300, f"Invalid 'To' address: '{address}'.")
            lowered = address.lower()
            if lowered in bcc_set:
                recipients.append((Recipient.Kind.BCC, address, "Bcc"))
            elif lowered in cc_set:
                recipients.append((Recipient.Kind.CC, address, "Cc"))
            else:
                recipients.append((Recipient.Kind.TO, address, "To"))
        # Raw submissions describe their MIME attachments (names only).
        for attachment in email.attachments:
            validation.check_attachment_name(attachment.name)
    if len(email.subject) > 2000:
        raise ApplicationError(300, "The Subject is longer than 2000 characters.")
    if len(email.tag) > 1000:
        raise ApplicationError(300, "The Tag is longer than 1000 characters.")
    validation.check_metadata(email.metadata)
    validation.check_recipient_count(len(recipients))
    return from_name, from_address, recipients


def _prepare(
    *, email: OutboundEmail, ctx: SendContext, now: datetime, check_only: bool = False
) -> _Prepared | None:
    server = ctx.server
    _from_name, from_address, recipients = _check_structure(email)

    stream_id = (email.message_stream or "outbound").lower()
    stream = ctx.stream(stream_id)
    if stream is None:
        raise ApplicationError(
            1235,
            f"The stream provided: '{email.message_stream}' does not exist on this server.",
        )
    if stream.stream_type == MessageStream.Type.INBOUND:
        raise ApplicationError(
            1236,
            f"The stream provided: '{stream.stream_id}' is an inbound stream and cannot send.",
        )

    domain = ctx.sender_domain(from_address)
    if domain is None or (
        settings.REQUIRE_VERIFIED_DOMAINS and not (domain.dkim_verified)
    ):
        raise ApplicationError(
            400,
            f"The 'From' address you supplied ({email.from_header}) is not a Sender "
            "Signature on your account. Please add and confirm this address in order "
            "to be able to use it in the 'From' field of your messages.",
        )

    # Suppressed (inactive) recipients: all of them → 406; some → deliver to the
    # others and say so (Postmark's texts, clients parse them; §3 of the notes).
    inactive = ctx.inactive(stream.stream_id, [a for _k, a, _f in recipients])
    if inactive and len(inactive) == len({a.lower() for _k, a, _f in recipients}):
        raise ApplicationError(
            406,
            "You tried to send to recipient(s) that have been marked as inactive. "
            f"Found inactive addresses: {', '.join(inactive)}. Inactive recipients "
            "are ones that have generated a hard bounce, a spam complaint, or a "
            "manual suppression.",
        )

    message_uuid = uuid.uuid4()
    if email.raw is None:
        raw, header_mid = mime.compose(
            email,
            from_address=from_address,
            message_id=str(message_uuid),
            submitted_at=now,
        )
    else:
        raw, header_mid = mime.prepare_raw(
            email.raw,
            message_id=str(message_uuid),
            from_address=from_address,
            keep_message_id=email.keep_message_id,
        )
    if len(raw) > settings.MAX_MESSAGE_BYTES:
        raise ApplicationError(
            300,
            f"The message is {len(raw)} bytes; the limit is {settings.MAX_MESSAGE_BYTES} "
            "bytes including attachments.",
        )
    if check_only:
        return None

    track_links = email.track_links or server.track_links
    message = Message(
        message_id=message_uuid,
        server=server,
        message_stream=stream.stream_id,
        source=Message.Source.API if email.raw is None else Message.Source.SMTP,
        from_header=email.from_header[:512],
        from_email=from_address.lower(),
        to_header=email.to,
        cc_header=email.cc,
        bcc_header=email.bcc,
        recipients_text=",".join(address.lower() for _k, address, _f in recipients),
        reply_to=email.reply_to,
        subject=email.subject,
        tag=email.tag,
        metadata=email.metadata,
        attachment_names=[a.name for a in email.attachments],
        track_opens=bool(email.track_opens) or server.track_opens,
        track_links=track_links,
        header_message_id=header_mid.strip("<>"),
        size=len(raw),
        sandboxed=server.delivery_type == Server.DeliveryType.SANDBOX,
        received_at=now,
    )
    inactive_set = set(inactive)
    rows = [
        Recipient(email=address, kind=kind, next_attempt_at=now)
        if address.lower() not in inactive_set
        else Recipient(
            email=address,
            kind=kind,
            next_attempt_at=now,
            status=Recipient.Status.SUPPRESSED,
            finished_at=now,
        )
        for kind, address, _field in recipients
    ]
    result = SendResult(message_id=str(message_uuid), submitted_at=now, to=email.to)
    if inactive:
        result.inactive = inactive
        result.message = (
            "Message OK, but will not deliver to these inactive addresses: "
            f"{', '.join(inactive)}. Inactive recipients are ones that have "
            "generated a hard bounce or a spam complaint."
        )
    return _Prepared(
        email=email, message=message, recipients=rows, raw=raw, result=result
    )


def _store(prepared: list[_Prepared]) -> None:
    """Archive each raw MIME, then commit all rows in one short transaction."""
    from .tasks import deliver_messages  # tasks import services; avoid a cycle

    for item in prepared:
        message = item.message
        key = archive_key(
            server_id=message.server_id,
            kind="messages",
            when=message.received_at,
            name=str(message.message_id),
        )
        message.archive_key = archive_put(key=key, data=item.raw)
    with transaction.atomic():
        Message.objects.bulk_create([item.message for item in prepared])
        recipients = []
        for item in prepared:
            for row in item.recipients:
                row.message = item.message
                recipients.append(row)
        Recipient.objects.bulk_create(recipients)
        message_ids = [item.message.id for item in prepared]
        deliver_messages.delay_on_commit(message_ids)
