"""Turning incoming reports into bounces: the bounce MX and the pool webhook.

Both edges end here. A report is tied to the exact message and recipient by, in
order: the VERP envelope recipient it was sent to (signed, so unforgeable); the
VERP return path quoted inside it (ARF ``Original-Mail-From``, returned headers);
our ``X-PM-Message-Id`` or the ``Message-ID`` of the returned message plus the
reported address. Reports that match nothing are kept as ``UnmatchedReport``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from messages.archive import archive_key, archive_put
from messages.models import Message, Recipient
from messages.verp import verp_decode
from postmark_clone.errors import ApplicationError

from . import dsn, engine
from .engine import feeds
from .models import TYPE_CODES, Bounce, UnmatchedReport
from .selectors import return_path_domains
from .services import bounce_record
from .subscriptions import unsubscribe_mail_receive, unsubscribe_mail_wanted

# DSN actions that report success (RFC 3464 §2.3.3): nothing to record.
SUCCESS_ACTIONS = {"delivered", "relayed", "expanded"}


@dataclass
class IngestResult:
    bounces: list[Bounce] = field(default_factory=list)
    unmatched: UnmatchedReport | None = None
    ignored: str = ""  # why nothing was recorded (success DSN, ...)


# --- Bounce MX ---------------------------------------------------------------------


def operator_addresses() -> set[str]:
    """The operator's abuse / feedback-loop mailboxes at the bounce MX."""
    return {a.lower() for a in settings.BOUNCE_MX_FBL_ADDRESSES}


def bounce_mx_rcpt_verdict(address: str) -> str | None:
    """``None`` to accept ``RCPT TO:<address>``, else the SMTP refusal.

    Accepts validly signed VERP addresses of our return-path domains and the
    operator's feedback-loop addresses; everything else (including a VERP with a
    wrong signature: a forged bounce) is ``550 5.1.1`` (RFC 3463: bad destination
    mailbox). The signature check needs no database and runs first."""
    address = (address or "").strip().strip("<>")
    if address.lower() in operator_addresses() or unsubscribe_mail_wanted(address):
        return None
    domain = address.rpartition("@")[2].lower()
    if verp_decode(address) is not None and domain in return_path_domains():
        return None
    return f"550 5.1.1 <{address}>: Recipient address rejected: no such bounce address"


def bounce_mx_receive(*, mail_from: str, rcpt_tos: list[str], raw: bytes) -> str:
    """The synchronous core of the bounce MX: record one received report and
    return the SMTP reply for DATA. Preconditions: every recipient passed
    ``bounce_mx_rcpt_verdict``. Raises only for infrastructure failures (the
    handler answers 451 then, and the sender retries)."""
    if any(unsubscribe_mail_wanted(rcpt) for rcpt in rcpt_tos):
        # A List-Unsubscribe mailto request (bounces.subscriptions), not a report.
        return unsubscribe_mail_receive(raw=raw)
    result = report_ingest(raw=raw, rcpt_tos=rcpt_tos, mail_from=mail_from)
    if result.bounces:
        return f"250 2.0.0 Recorded {len(result.bounces)} bounce(s)"
    if result.unmatched is not None:
        return "250 2.0.0 Report kept for the operator"
    return f"250 2.0.0 Nothing to record ({result.ignored})"


def report_ingest(
    *, raw: bytes, rcpt_tos: list[str], mail_from: str = ""
) -> IngestResult:
    """Parse one raw report and record a bounce per failed recipient it maps to.

    Archives the raw report once (outside any transaction), then calls
    ``bounce_record`` per bounce. Not idempotent: a report received twice is
    recorded twice (the MX answers 250 only after recording)."""
    report = dsn.parse_report(raw)
    failures = [r for r in report.recipients if r.action.lower() not in SUCCESS_ACTIONS]
    if report.kind == dsn.KIND_DSN and report.recipients and not failures:
        return IngestResult(ignored="success notification")
    if engine.not_a_complaint(report):
        return IngestResult(ignored=engine.not_a_complaint(report))

    targets = _targets_by_verp(rcpt_tos, report)
    if not targets and report.kind != dsn.KIND_UNKNOWN:
        targets = _targets_by_message(report, failures)
    if report.kind == dsn.KIND_UNKNOWN or not targets:
        reason = (
            "not a recognisable bounce or complaint"
            if report.kind == dsn.KIND_UNKNOWN
            else "no VERP address and no known Message-ID"
        )
        return IngestResult(
            unmatched=_keep_unmatched(
                source=UnmatchedReport.Source.BOUNCE_MX,
                raw=raw,
                mail_from=mail_from,
                rcpt_tos=rcpt_tos,
                report=report,
                reason=reason,
            )
        )

    server_id = targets[0][0].message.server_id
    dump_key = _archive(server_id=server_id, raw=raw)
    result = IngestResult()
    for row, block in targets:
        verdict = engine.classify_block(block, report)
        details = block.diagnostic or report.summary[:1000]
        if report.kind == dsn.KIND_ARF:
            details = f"Feedback-Type: {report.feedback_type or 'abuse'}"
            if report.user_agent:
                details += f"; User-Agent: {report.user_agent}"
        result.bounces.append(
            bounce_record(
                server=row.message.server,
                message=row.message,
                email=row.email,
                bounce_type=verdict.type,
                reason=verdict.reason,
                smtp_status=block.status,
                diagnostic=block.diagnostic,
                details=details,
                origin="bounce_mx",
                recipient=row,
                dump_key=dump_key,
            )
        )
    return result


def _targets_by_verp(
    rcpt_tos: list[str], report: dsn.ParsedReport
) -> list[tuple[Recipient, dsn.ReportRecipient]]:
    candidates = list(rcpt_tos) + [report.original_return_path]
    for address in candidates:
        recipient_id = verp_decode(address or "")
        if recipient_id is None:
            continue
        row = (
            Recipient.objects.select_related("message", "message__server")
            .filter(id=recipient_id)
            .first()
        )
        if row is None:
            continue  # purged: fall back to Message-ID matching
        return [(row, _block_for(row.email, report))]
    return []


def _block_for(email: str, report: dsn.ParsedReport) -> dsn.ReportRecipient:
    """The report's block about ``email`` (forwarded mail may name another
    address: then the first failure, then an empty block)."""
    email = email.lower()
    for block in report.recipients:
        if email in (block.email, block.original_recipient):
            return block
    return report.first_failure or dsn.ReportRecipient(email=email, action="failed")


def _targets_by_message(
    report: dsn.ParsedReport, failures: list[dsn.ReportRecipient]
) -> list[tuple[Recipient, dsn.ReportRecipient]]:
    message = _message_for(report)
    if message is None:
        return []
    rows = list(Recipient.objects.filter(message=message).select_related("message"))
    for row in rows:
        row.message.server  # noqa: B018 - load the tenant once, used per bounce
    by_email = {row.email.lower(): row for row in rows}
    targets = []
    for block in failures:
        row = by_email.get(block.original_recipient) or by_email.get(block.email)
        if row is None and len(rows) == 1:
            row = rows[0]  # forwarded address: the only recipient it can be
        if row is not None and all(t[0].id != row.id for t in targets):
            targets.append((row, block))
    return targets


def _message_for(report: dsn.ParsedReport) -> Message | None:
    if report.pm_message_id:
        try:
            parsed = uuid.UUID(report.pm_message_id)
        except ValueError:
            parsed = None
        if parsed is not None:
            found = (
                Message.objects.select_related("server")
                .filter(message_id=parsed)
                .first()
            )
            if found is not None:
                return found
    if report.original_message_id:
        matches = list(
            Message.objects.select_related("server").filter(
                header_message_id=report.original_message_id
            )[:2]
        )
        if len(matches) == 1:  # a tenant-chosen id may repeat: then do not guess
            return matches[0]
    return None


def _archive(*, server_id: int, raw: bytes) -> str:
    return archive_put(
        key=archive_key(
            server_id=server_id,
            kind="bounces",
            when=timezone.now(),
            name=str(uuid.uuid4()),
        ),
        data=raw,
    )


def _keep_unmatched(
    *,
    source: str,
    raw: bytes,
    mail_from: str,
    rcpt_tos: list[str],
    report: dsn.ParsedReport | None,
    reason: str,
    email: str = "",
    bounce_type: str = "",
) -> UnmatchedReport:
    dump_key = _archive(server_id=0, raw=raw)
    block = report.first_failure if report else None
    if report is not None and block is not None and not bounce_type:
        bounce_type = engine.classify_block(block, report).type
    return UnmatchedReport.objects.create(
        source=source,
        received_at=timezone.now(),
        mail_from=mail_from[:320],
        rcpt_to=", ".join(rcpt_tos),
        kind=report.kind if report else "json",
        bounce_type=bounce_type,
        email=(email or (block.email if block else ""))[:320],
        original_message_id=(
            (report.pm_message_id or report.original_message_id) if report else ""
        )[:998],
        reason=reason[:255],
        dump_key=dump_key,
    )


# --- Pool webhook ----------------------------------------------------------------


@dataclass
class PoolBounce:
    """One bounce as reported by a pool node or provider, before mapping."""

    email: str
    message_id: str = ""
    verp: str = ""
    status: str = ""
    diagnostic: str = ""
    type: str | None = None  # a Postmark type the reporter insists on
    permanent: bool = False  # the reporter says permanent (SES "Permanent")
    action: str = ""  # failed | delayed | complained
    hint: str = ""  # the reason the provider's category implies (SES sub-type)


def pool_bounces_from_json(payload: Any) -> list[PoolBounce]:
    """Our documented JSON (one object or a list), an Amazon SES notification
    delivered through SNS, or SendGrid Event Webhook events → ``PoolBounce``
    items. Raises ``ApplicationError`` 300 for malformed input. Pure."""
    if feeds.is_sns_envelope(payload):
        try:
            return [_from_feed(item) for item in feeds.ses_items(payload)]
        except (TypeError, ValueError, AttributeError) as exc:
            raise ApplicationError(300, "SNS 'Message' is not SES JSON.") from exc
    if feeds.is_sendgrid_events(payload):
        items = payload if isinstance(payload, list) else [payload]
        if len(items) > 500:
            raise ApplicationError(300, "Send 1 to 500 events per request.")
        try:
            return [_from_feed(item) for item in feeds.sendgrid_items(items)]
        except (TypeError, ValueError, AttributeError) as exc:
            raise ApplicationError(300, "Malformed SendGrid event.") from exc
    items = payload if isinstance(payload, list) else [payload]
    if not items or len(items) > 500:
        raise ApplicationError(300, "Send one bounce object or a list of 1 to 500.")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise ApplicationError(300, "Each bounce must be a JSON object.")
        message_id = _str(item.get("MessageID"))
        verp = _str(item.get("VERP"))
        email = _str(item.get("Email"))
        if not (message_id or verp):
            raise ApplicationError(300, "Each bounce needs 'MessageID' or 'VERP'.")
        if not email and not verp:
            raise ApplicationError(300, "Each bounce needs 'Email'.")
        bounce_type = _str(item.get("Type")) or None
        if bounce_type is not None and bounce_type not in TYPE_CODES:
            raise ApplicationError(300, f"Unknown bounce 'Type': '{bounce_type}'.")
        out.append(
            PoolBounce(
                email=email,
                message_id=message_id,
                verp=verp,
                status=_str(item.get("Status")),
                diagnostic=_str(item.get("Diagnostic")),
                type=bounce_type,
            )
        )
    return out


def _from_feed(item: feeds.FeedItem) -> PoolBounce:
    return PoolBounce(
        email=item.email,
        message_id=item.message_id,
        verp=item.verp,
        status=item.status,
        diagnostic=item.diagnostic,
        permanent=item.permanent,
        action=item.action,
        hint=item.hint,
    )


def _str(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ApplicationError(300, "Bounce fields must be strings.")
    return str(value).strip()


def pool_bounce_verdict(item: PoolBounce) -> engine.Verdict:
    """The one classifier's verdict on a pool/provider item (its ``Type``, when
    the reporter gave one, is applied by the caller)."""
    return engine.classify(
        status=item.status,
        diagnostic=item.diagnostic,
        action=item.action,
        kind="arf" if item.action == "complained" else "",
        hint=item.hint,
    )


def pool_bounces_record(
    *, items: list[PoolBounce], raw: bytes, route: str
) -> tuple[list[Bounce], int]:
    """Record pool-reported bounces; returns ``(bounces, unmatched_count)``.

    Each item maps by its VERP (signed) or by our MessageID plus an address that
    is one of that message's recipients; anything else is kept as an
    ``UnmatchedReport``. The raw request body is archived as the dump. Not
    idempotent: the edge refuses replays before calling."""
    bounces: list[Bounce] = []
    unmatched = 0
    dump_keys: dict[int, str] = {}
    for item in items:
        row = _pool_row(item)
        if row is None:
            _keep_unmatched(
                source=UnmatchedReport.Source.POOL_WEBHOOK,
                raw=raw,
                mail_from=route,
                rcpt_tos=[],
                report=None,
                reason="no matching message/recipient",
                email=item.email,
                bounce_type=item.type or "",
            )
            unmatched += 1
            continue
        server_id = row.message.server_id
        if server_id not in dump_keys:
            dump_keys[server_id] = _archive(server_id=server_id, raw=raw)
        verdict = pool_bounce_verdict(item)
        bounce_type = item.type or verdict.type
        bounces.append(
            bounce_record(
                server=row.message.server,
                message=row.message,
                email=row.email,
                bounce_type=bounce_type,
                reason=verdict.reason if bounce_type == verdict.type else "",
                smtp_status=item.status,
                diagnostic=item.diagnostic,
                origin="pool_webhook",
                recipient=row,
                dump_key=dump_keys[server_id],
            )
        )
    return bounces, unmatched


def _pool_row(item: PoolBounce) -> Recipient | None:
    rows = Recipient.objects.select_related("message", "message__server")
    recipient_id = verp_decode(item.verp) if item.verp else None
    if recipient_id is not None:
        row = rows.filter(id=recipient_id).first()
        if row is not None and (
            not item.email or row.email.lower() == item.email.lower()
        ):
            return row
    if item.message_id and item.email:
        try:
            parsed = uuid.UUID(item.message_id)
        except ValueError:
            return None
        return rows.filter(message__message_id=parsed, email__iexact=item.email).first()
    return None


def pool_nonce_claim(*, key: str, ttl_seconds: int) -> bool:
    """Remember ``key`` (a request signature or SNS MessageId) for ``ttl_seconds``;
    ``False`` when it was already seen and has not expired: a replay. Expired
    keys are purged on the way (the table stays as small as the window)."""
    from datetime import timedelta

    from django.db import IntegrityError, transaction

    from .models import PoolWebhookNonce

    now = timezone.now()
    PoolWebhookNonce.objects.filter(expires_at__lt=now).delete()
    try:
        with transaction.atomic():
            PoolWebhookNonce.objects.create(
                key=key[:128], expires_at=now + timedelta(seconds=ttl_seconds)
            )
    except IntegrityError:
        return False
    return True
