"""Writes for messages: accepting a submission durably.

``message_send`` is the single entry point for the HTTP API and SMTP submission.
It validates, composes the MIME, writes it to the archive, and commits the message
and its recipients in one short transaction; delivery is dispatched on commit.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from email.utils import getaddresses

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Domain, MessageStream, Server
from bounces.stats import stats_record_sent
from postmark_clone.bulk import Writes
from postmark_clone.errors import ApplicationError
from postmark_clone.lookup_cache import LookupCache

from . import mime, validation
from .archive import archive_delete, archive_key, archive_put
from .dispatch import delivery_dispatch
from .email import OutboundEmail
from .models import Message, Recipient

logger = logging.getLogger(__name__)


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
    # Bounce testing: rows that get a simulated bounce instead of delivery.
    test_bounces: list[tuple[Recipient, str]] = field(default_factory=list)


# Per-process caches of rarely-changing rows (postmark_clone.lookup_cache).
_stream_cache: LookupCache[MessageStream] = LookupCache("send-streams")
_domain_cache: LookupCache[list[Domain]] = LookupCache("send-domains")


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

    def stream(self, stream_id: str) -> MessageStream | None:
        key = stream_id.lower()
        if key not in self._streams:
            self._streams[key] = _stream_cache.get(
                (self.server.pk, key),
                lambda: MessageStream.objects.filter(
                    server=self.server, stream_id=key, archived_at__isnull=True
                ).first(),
            )
        return self._streams[key]

    def sender_domain(self, address: str) -> Domain | None:
        if self._domains is None:
            account_id = self.server.account_id
            self._domains = _domain_cache.get(
                account_id, lambda: list(Domain.objects.filter(account_id=account_id))
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
    else:
        ctx = SendContext(server)
    now = timezone.now()
    results: list[SendResult | ApplicationError] = []
    prepared: list[tuple[int, _Prepared]] = []
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
        prepared.append((len(results), item))
        results.append(item.result)
    if len(prepared) == 1 and connection.vendor == "postgresql":
        # One message (POST /email): check suppressions in the same round trip
        # as the writes, betting that none applies; if one does, that
        # transaction is rolled back and the careful path below runs.
        try:
            _store([prepared[0][1]], inactive_check=_wanted_addresses(prepared))
        except _InactiveFound as found:
            _store_checked(
                server=server,
                prepared=prepared,
                results=results,
                inactive=found.inactive,
            )
        else:
            _after_store([prepared[0][1]])
        return results
    _store_checked(server=server, prepared=prepared, results=results)
    return results


class _InactiveFound(Exception):
    """Raised inside the optimistic transaction to roll it back."""

    def __init__(self, inactive: dict[str, set[str]]) -> None:
        super().__init__("suppressed recipients found")
        self.inactive = inactive


def _wanted_addresses(prepared: list[tuple[int, _Prepared]]) -> dict[str, set[str]]:
    """Lower-cased recipient addresses per stream."""
    wanted: dict[str, set[str]] = {}
    for _index, item in prepared:
        wanted.setdefault(item.message.message_stream, set()).update(
            row.email.lower() for row in item.recipients
        )
    return wanted


def _store_checked(
    *,
    server: Server,
    prepared: list[tuple[int, _Prepared]],
    results: list[SendResult | ApplicationError],
    inactive: dict[str, set[str]] | None = None,
) -> None:
    """Apply the suppression lists (read now unless ``inactive`` is given),
    then store and record what is left."""
    prepared = _drop_inactive(
        server=server, prepared=prepared, results=results, inactive=inactive
    )
    if prepared:
        _store([item for _index, item in prepared])
        _after_store([item for _index, item in prepared])


def _drop_inactive(
    *,
    server: Server,
    prepared: list[tuple[int, _Prepared]],
    results: list[SendResult | ApplicationError],
    inactive: dict[str, set[str]] | None = None,
) -> list[tuple[int, _Prepared]]:
    """Apply the streams' suppression lists (one query per stream per batch):
    a message whose recipients are all inactive becomes error 406; inactive
    recipients of the others are stored as ``suppressed`` and named in
    ``Message`` (Postmark's exact wording, which clients parse; §2.2 and §3)."""
    from bounces.selectors import inactive_recipients

    if inactive is None:
        inactive = {
            stream: inactive_recipients(
                server=server, message_stream=stream, emails=emails
            )
            for stream, emails in _wanted_addresses(prepared).items()
        }
    kept = []
    for index, item in prepared:
        dead = inactive.get(item.message.message_stream, set())
        unique = {r.email.lower(): r.email for r in reversed(item.recipients)}
        found = [
            unique[key]
            for key in dict.fromkeys(
                r.email.lower() for r in item.recipients if r.email.lower() in dead
            )
        ]
        if found and len(found) == len(unique):
            results[index] = ApplicationError(
                406,
                "You tried to send to recipient(s) that have been marked as "
                f"inactive. Found inactive addresses: {', '.join(found)}. Inactive "
                "recipients are ones that have generated a hard bounce, a spam "
                "complaint, or a manual suppression.",
            )
            continue
        if found:
            for row in item.recipients:
                if row.email.lower() in dead:
                    row.status = Recipient.Status.SUPPRESSED
                    row.finished_at = item.message.received_at
            item.test_bounces = [
                (row, kind)
                for row, kind in item.test_bounces
                if row.status != Recipient.Status.SUPPRESSED
            ]
            item.result.inactive = found
            item.result.message = (
                "Message OK, but will not deliver to these inactive addresses: "
                f"{', '.join(found)}. Inactive recipients are ones that have "
                "generated a hard bounce or a spam complaint."
            )
        kept.append((index, item))
    return kept


def _after_store(prepared: list[_Prepared]) -> None:
    """After commit (bounces archive their report, which is I/O): record the
    simulated bounces of bounce testing (rows stored as ``test``, never queued,
    so never delivered), and for SMTP submissions the skipped inactive
    recipients as ``SMTPApiError`` records (SMTP has no ``Message`` to say it)."""
    from bounces.services import bounce_testing_record, smtp_api_error_record

    for item in prepared:
        if item.test_bounces:
            bounce_testing_record(message=item.message, bounces=item.test_bounces)
        if item.email.raw is not None and item.result.inactive:
            smtp_api_error_record(
                server=item.message.server,
                message=item.message,
                message_stream=item.message.message_stream,
                emails=item.result.inactive,
                error=item.result.message,
            )


def _check_structure(
    email: OutboundEmail,
) -> tuple[str, str, list[tuple[str, str, str]]]:
    """Checks that need no database. Returns (from_name, from_address, recipients)."""
    _check_text_fields(email)
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
    _check_size_estimate(email)
    if len(email.subject) > 2000:
        raise ApplicationError(300, "The Subject is longer than 2000 characters.")
    if len(email.tag) > 1000:
        raise ApplicationError(300, "The Tag is longer than 1000 characters.")
    validation.check_metadata(email.metadata)
    validation.check_recipient_count(len(recipients))
    return from_name, from_address, recipients


def _check_text_fields(email: OutboundEmail) -> None:
    """No NUL or unpaired surrogate in anything we store or put into the MIME."""
    for field_name, value in (
        ("From", email.from_header),
        ("To", email.to),
        ("Cc", email.cc),
        ("Bcc", email.bcc),
        ("ReplyTo", email.reply_to),
        ("Subject", email.subject),
        ("Tag", email.tag),
        ("MessageStream", email.message_stream),
        ("HtmlBody", email.html_body),
        ("TextBody", email.text_body),
    ):
        validation.check_text(field_name, value)
    for name, value in email.headers:
        validation.check_text("Headers Name", name)
        validation.check_text(f"Header {name}", value)
    for key, value in email.metadata.items():
        validation.check_text("Metadata", key)
        validation.check_text(f"Metadata {key}", value)
    for attachment in email.attachments:
        validation.check_text("Attachments Name", attachment.name)
        validation.check_text("Attachments ContentType", attachment.content_type)
        validation.check_text("Attachments ContentID", attachment.content_id)


def _check_size_estimate(email: OutboundEmail) -> None:
    """Refuse oversized messages before spending time composing them: bodies are
    capped at 5 MB each, and the whole message (base64 attachments included) at
    ``MAX_MESSAGE_BYTES``."""
    for field_name, body in (
        ("HtmlBody", email.html_body),
        ("TextBody", email.text_body),
    ):
        if body is not None and len(body) > validation.MAX_BODY_CHARS:
            raise ApplicationError(
                300,
                f"The '{field_name}' is {len(body)} characters; the limit is "
                f"{validation.MAX_BODY_CHARS}.",
            )
    estimate = len(email.html_body or "") + len(email.text_body or "")
    estimate += sum((len(a.content) + 2) // 3 * 4 for a in email.attachments)
    if email.raw is not None:
        estimate = len(email.raw)
    if estimate > settings.MAX_MESSAGE_BYTES:
        raise ApplicationError(
            300,
            f"The message is at least {estimate} bytes; the limit is "
            f"{settings.MAX_MESSAGE_BYTES} bytes including base64 attachments.",
        )


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

    message_uuid = uuid.uuid4()
    if email.raw is None:
        try:
            raw, header_mid = mime.compose(
                email,
                from_name=_from_name,
                from_address=from_address,
                message_id=str(message_uuid),
                submitted_at=now,
            )
        except (ValueError, TypeError, IndexError, MessageError) as exc:
            # The checks above should leave nothing the email package refuses;
            # this keeps a corner case we missed a 422, never a 500.
            raise ApplicationError(
                300, f"The message could not be composed as MIME: {exc}"
            ) from exc
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
    rows = [
        Recipient(
            email=address,
            kind=kind,
            next_attempt_at=now,
            server=server,
            message_stream=stream.stream_id,
            received_at=now,
        )
        for kind, address, _field in recipients
    ]
    test_bounces = _bounce_testing(email=email, rows=rows, now=now)
    result = SendResult(message_id=str(message_uuid), submitted_at=now, to=email.to)
    return _Prepared(
        email=email,
        message=message,
        recipients=rows,
        raw=raw,
        result=result,
        test_bounces=test_bounces,
    )


def _bounce_testing(
    *, email: OutboundEmail, rows: list[Recipient], now: datetime
) -> list[tuple[Recipient, str]]:
    """Rows to bounce instead of deliver: ``X-PM-Bounce-Type`` (API ``Headers``,
    or ``bounce_type``, which the SMTP edge reads from the raw header) or an address
    at the bounce-testing domain. Marks them ``test`` so no worker claims them."""
    from bounces.services import bounce_testing_type

    header = email.bounce_type or next(
        (v for n, v in email.headers if n.lower() == "x-pm-bounce-type"), ""
    )
    chosen = []
    for row in rows:
        bounce_type = bounce_testing_type(address=row.email, header=header)
        if bounce_type is not None:
            row.status = Recipient.Status.TEST
            row.finished_at = now
            chosen.append((row, bounce_type))
    return chosen


def _store(
    prepared: list[_Prepared], inactive_check: dict[str, set[str]] | None = None
) -> None:
    """Archive each raw MIME, then commit all rows in one short transaction.

    With ``inactive_check`` (addresses per stream) the suppression lookup
    travels with the writes, and ``_InactiveFound`` is raised (nothing is kept)
    when any of those addresses is suppressed.
    """
    from bounces.selectors import inactive_recipients_query

    written: list[str] = []
    try:
        _archive_all(prepared, written)
        with transaction.atomic():
            # One round trip for the rows and the counters (keys come from a
            # per-process pool; see postmark_clone.bulk), then the commit.
            writes = Writes()
            streams = sorted(inactive_check or {})
            server = prepared[0].message.server
            for stream in streams:
                writes.query(
                    *inactive_recipients_query(
                        server=server,
                        message_stream=stream,
                        emails=inactive_check[stream],
                    )
                )
            writes.insert(Message, [item.message for item in prepared])
            recipients = []
            for item in prepared:
                for row in item.recipients:
                    row.message = item.message
                    recipients.append(row)
            writes.insert(Recipient, recipients)
            # Per-server statistics: Sent counts once per recipient we will attempt
            # (Postmark §6); suppressed recipients are never sent.
            stats_record_sent(
                items=[
                    (
                        item.message.server_id,
                        item.message.message_stream,
                        item.message.tag,
                        item.message.received_at,
                        sum(
                            r.status != Recipient.Status.SUPPRESSED
                            for r in item.recipients
                        ),
                    )
                    for item in prepared
                ],
                writes=writes,
            )
            found = writes.send()
            inactive = {
                stream: {email for (email,) in rows}
                for stream, rows in zip(streams, found, strict=True)
            }
            if any(inactive.values()):
                raise _InactiveFound(inactive)
            message_ids = [item.message.id for item in prepared]
            transaction.on_commit(lambda: delivery_dispatch(message_ids=message_ids))
    except BaseException:
        # Nothing was accepted: drop the objects we archived so no orphan raw
        # MIME outlives the failed submission (best effort; keys are unique, so
        # a leftover would be harmless, only wasted space).
        _archive_discard(written)
        raise


def _archive_all(prepared: list[_Prepared], written: list[str]) -> None:
    """Write every raw MIME to the archive, appending each stored key to
    ``written``; raise the first failure once all writes have finished.

    A batch writes up to 500 objects: on S3 each is a network round trip, so
    they go out ``ARCHIVE_WRITE_CONCURRENCY`` at a time.
    """

    def put(item: _Prepared) -> str:
        message = item.message
        key = archive_key(
            server_id=message.server_id,
            # Content-free servers: the MIME is kept only until delivery is final;
            # the prefix marks it for the purge sweep (messages/retention.py).
            kind="messages" if message.server.store_content else Message.TRANSIENT_KIND,
            when=message.received_at,
            name=str(message.message_id),
        )
        message.archive_key = archive_put(key=key, data=item.raw)
        return message.archive_key

    workers = min(settings.ARCHIVE_WRITE_CONCURRENCY, len(prepared))
    if workers <= 1:
        for item in prepared:
            written.append(put(item))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(put, item) for item in prepared]
    errors = []
    for future in futures:
        error = future.exception()
        if error is None:
            written.append(future.result())
        else:
            errors.append(error)
    if errors:
        raise errors[0]


def _archive_discard(keys: list[str]) -> None:
    for key in keys:
        try:
            archive_delete(key=key)
        except Exception:  # noqa: BLE001 - best-effort cleanup; keep the first error
            logger.warning("could not discard archived object %s", key, exc_info=True)
