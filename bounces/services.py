"""Writes for bounces and suppressions.

``bounce_record`` is the one way a bounce enters the system: synchronous SMTP
rejections during delivery, DSNs/ARF reports at the bounce MX, bounce webhooks
from the sender pool, SMTP API errors and bounce testing all call it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Server
from messages.archive import archive_get, archive_key, archive_put
from messages.models import Message, MessageEvent, Recipient
from postmark_clone.errors import ApplicationError

from . import classify
from .models import TYPE_CODES, Bounce, BounceType, Suppression
from .payloads import bounce_webhook_payload
from .stats import stats_record

# Postmark's canned Description per type (postmark-api.md §4 and the bounce
# type table of Postmark's developer docs, in our words where not quoted).
DESCRIPTIONS: dict[str, str] = {
    "HardBounce": "The server was unable to deliver your message (ex: unknown "
    "user, mailbox not found).",
    "Transient": "The server could not temporarily deliver your message (ex: "
    "Message is delayed due to network troubles).",
    "Unsubscribe": "Unsubscribe or Remove request.",
    "Subscribe": "Subscribe request from someone wanting to get added to the "
    "mailing list.",
    "AutoResponder": 'Automatic email responder (ex: "Out of Office" or '
    '"On Vacation").',
    "AddressChange": "The recipient has requested an address change.",
    "DnsError": "A temporary DNS error.",
    "SpamNotification": "The message was delivered, but was either blocked by "
    "the user, or classified as spam, bulk mail, or had rejected content.",
    "OpenRelayTest": "The NDR is actually a test email message to see if the "
    "mail server is an open relay.",
    "Unknown": "Unable to classify the NDR.",
    "SoftBounce": "Unable to temporarily deliver message (i.e. mailbox full, "
    "account disabled, exceeds quota, out of disk space).",
    "VirusNotification": "The bounce is actually a virus notification warning "
    "about a virus/code infected message.",
    "ChallengeVerification": "The bounce is a challenge asking for verification "
    "you actually sent the email. Typcial challenges are made by Spam Arrest, or "
    "MailFrontier Matador.",
    "BadEmailAddress": "The address is not a valid email address.",
    "SpamComplaint": "The subscriber explicitly marked this message as spam.",
    "ManuallyDeactivated": "The email was manually deactivated.",
    "Unconfirmed": "Registration not confirmed — The subscriber has not clicked "
    "on the confirmation link upon registration or import.",
    "Blocked": "Blocked from this ISP due to content or blacklisting.",
    "SMTPApiError": "An error occurred while accepting an email through the SMTP API.",
    "InboundError": "Unable to deliver inbound message to destination inbound hook.",
    "DMARCPolicy": "Email rejected due DMARC Policy.",
    "TemplateRenderingFailed": "An error occurred while attempting to render "
    "your template.",
}

# Types that make the address inactive on the message's stream, and whether the
# tenant may reactivate it (postmark-api.md §4: hard bounces and spam complaints
# deactivate; complaints cannot be undone).
# BadEmailAddress (5.1.3, an address that cannot exist) suppresses too, as the
# reason table of bounces/engine/table.py says; Postmark lists it as HardBounce.
DEACTIVATING: dict[str, tuple[str, bool]] = {
    "HardBounce": (Suppression.Reason.HARD_BOUNCE, True),
    "BadEmailAddress": (Suppression.Reason.HARD_BOUNCE, True),
    "SpamComplaint": (Suppression.Reason.SPAM_COMPLAINT, False),
}
# Types that are not a failed delivery of the message to the recipient: the
# recipient row keeps its state (an out-of-office reply means it was delivered).
NOT_A_FAILURE = {"AutoResponder"}
# Types whose async report does not end delivery (a "delayed" DSN).
NOT_FINAL_WHEN_ASYNC = {"Transient"}


@dataclass(frozen=True)
class _Context:
    message_stream: str
    tag: str
    metadata: dict[str, str]


def bounce_record(
    *,
    server: Server,
    message: Message | None,
    email: str,
    bounce_type: str | None = None,
    smtp_status: str = "",
    diagnostic: str = "",
    details: str = "",
    raw_report: bytes | None = None,
    origin: str = "delivery",
    recipient: Recipient | None = None,
    message_stream: str | None = None,
    dump_key: str = "",
    recipient_status: str | None = None,
    bounced_at: datetime | None = None,
    from_header: str = "",
    subject: str = "",
    tag: str = "",
    reason: str = "",
) -> Bounce:
    """Record one bounce for ``email`` and apply its consequences, atomically.

    - ``bounce_type`` None: classified from ``smtp_status`` and ``diagnostic``
      (``bounces.classify``, the reason engine); unknown names raise
      ``ValueError``. ``reason``: the engine's reason when the caller classified
      (stored on the bounce for operators).
    - ``raw_report`` (DSN, ARF, SMTP transcript) is archived *before* the
      transaction (object storage is network I/O); or pass an already archived
      ``dump_key`` when one report yields several bounces.
    - Hard bounces and spam complaints make the address inactive on the
      message's stream (a ``Suppression`` with origin ``Recipient``); blocks,
      soft bounces, transients and auto-replies never do.
    - Adds the message's ``Bounced`` (or ``Transient``) event and finishes its
      recipient row with ``recipient_status`` (default ``bounced``). Auto-replies
      leave the row alone; an async ``Transient`` (a "delayed" DSN) does too.
    - Counts it in the per-server stats and queues the tenant's Bounce or
      SpamComplaint webhook, inside the same transaction.

    ``origin`` is ``delivery`` (synchronous rejection), ``bounce_mx``,
    ``pool_webhook``, ``smtp_api`` or ``bounce_testing``. Not idempotent: each
    call is a new bounce (edges dedupe replays before calling).
    With ``message=None`` (an SMTP submission rejected before any Message row
    existed) ``from_header``, ``subject``, ``tag`` and ``message_stream`` describe
    what was submitted, and ``dump_key`` may point at its archived raw copy.
    """
    now = bounced_at or timezone.now()
    email = (email or "").strip()
    if bounce_type is None:
        verdict = classify.classify(status=smtp_status, diagnostic=diagnostic)
        bounce_type, reason = verdict.type, verdict.reason
    if bounce_type not in TYPE_CODES:
        raise ValueError(f"unknown bounce type {bounce_type!r}")
    stream = message.message_stream if message else (message_stream or "outbound")
    context = _Context(
        message_stream=stream,
        tag=message.tag if message else tag[:1000],
        metadata=dict(message.metadata or {}) if message else {},
    )
    content = ""
    if raw_report is not None:
        dump_key = archive_put(
            key=archive_key(
                server_id=server.id, kind="bounces", when=now, name=str(uuid.uuid4())
            ),
            data=raw_report,
        )
        content = raw_report.decode("utf-8", errors="replace")
    deactivation = DEACTIVATING.get(bounce_type)
    with transaction.atomic():
        bounce = Bounce.objects.create(
            server=server,
            message=message,
            message_uuid=message.message_id if message else None,
            message_stream=stream,
            type=bounce_type,
            type_code=TYPE_CODES[bounce_type],
            email=email[:320],
            from_header=message.from_header if message else from_header[:512],
            subject=message.subject if message else subject[:2000],
            tag=context.tag,
            description=DESCRIPTIONS.get(bounce_type, ""),
            details=(details or diagnostic or smtp_status)[:10000],
            reason=reason[:32],
            dump_key=dump_key,
            inactive=deactivation is not None,
            can_activate=deactivation[1] if deactivation else True,
            bounced_at=now,
        )
        if deactivation is not None:
            _suppress(
                server=server, stream=stream, bounce=bounce, reason=deactivation[0]
            )
        if message is not None:
            _finish_recipient(
                message=message,
                recipient=recipient,
                bounce=bounce,
                origin=origin,
                recipient_status=recipient_status,
                now=now,
            )
        stats_record(
            server_id=server.id,
            message_stream=stream,
            tag=context.tag,
            day=now.date(),
            counts=_stats_counts(bounce_type),
        )
        if bounce_type != "SMTPApiError" or server.enable_smtp_api_error_hooks:
            from webhooks.services import webhook_emit  # webhooks import bounces

            webhook_emit(
                server=server,
                message_stream=stream,
                record_type=(
                    "SpamComplaint" if bounce_type == "SpamComplaint" else "Bounce"
                ),
                payload=bounce_webhook_payload(
                    bounce, metadata=context.metadata, content=content
                ),
            )
    return bounce


def _stats_counts(bounce_type: str) -> dict[str, int]:
    """Counter deltas for ``bounces.stats``. Spam complaints and SMTP API errors
    are their own columns in Postmark's stats; auto-replies are recorded but not
    counted as bounced (they are not failures)."""
    if bounce_type == "SpamComplaint":
        return {"SpamComplaints": 1}
    if bounce_type == "SMTPApiError":
        return {"SMTPApiErrors": 1}
    if bounce_type in NOT_A_FAILURE:
        return {bounce_type: 1}
    return {"Bounced": 1, bounce_type: 1}


def _suppress(*, server: Server, stream: str, bounce: Bounce, reason: str) -> None:
    row, created = Suppression.objects.get_or_create(
        server=server,
        message_stream=stream,
        email=bounce.email.lower(),
        defaults={
            "reason": reason,
            "origin": Suppression.Origin.RECIPIENT,
            "bounce": bounce,
        },
    )
    if not created:
        # A complaint outranks a manual or hard-bounce entry: it must not be
        # deletable afterwards (postmark-api.md §8).
        if reason == Suppression.Reason.SPAM_COMPLAINT:
            row.reason = reason
            row.origin = Suppression.Origin.RECIPIENT
        row.bounce = bounce
        row.save(update_fields=["reason", "origin", "bounce"])


def _finish_recipient(
    *,
    message: Message,
    recipient: Recipient | None,
    bounce: Bounce,
    origin: str,
    recipient_status: str | None,
    now: datetime,
) -> None:
    if bounce.type in NOT_A_FAILURE:
        return
    transient = bounce.type == "Transient"
    MessageEvent.objects.create(
        message=message,
        recipient=bounce.email,
        type=MessageEvent.Type.TRANSIENT if transient else MessageEvent.Type.BOUNCED,
        details={
            "Summary": bounce.details or bounce.description,
            "BounceID": str(bounce.id),
            "Type": bounce.type,
            "TypeCode": bounce.type_code,
        },
        created_at=now,
    )
    if transient and origin != "delivery" and recipient_status is None:
        return
    rows = Recipient.objects.filter(message=message)
    if recipient is not None:
        rows = rows.filter(id=recipient.id)
    else:
        rows = rows.filter(email__iexact=bounce.email)
    rows.exclude(status__in=Recipient.FINAL_STATUSES).update(
        status=recipient_status or Recipient.Status.BOUNCED, finished_at=now
    )


def bounce_activate(*, server: Server, bounce_id: int) -> Bounce:
    """Reactivate the recipient of one of ``server``'s bounces: clear ``inactive``
    on it (and on the address's other bounces in that stream) and remove its
    hard-bounce or manual suppression. Raises ``ApplicationError`` 1001 when the
    bounce is missing or another tenant's, 1003 when it cannot be activated
    (spam complaints). Safe to call twice."""
    bounce = Bounce.objects.filter(server=server, id=bounce_id).first()
    if bounce is None:
        raise ApplicationError(1001, "This bounce was not found.")
    if not bounce.can_activate:
        raise ApplicationError(1003, "This bounce cannot be activated.")
    with transaction.atomic():
        complaint = Suppression.objects.filter(
            server=server,
            message_stream=bounce.message_stream,
            email=bounce.email.lower(),
            reason=Suppression.Reason.SPAM_COMPLAINT,
        ).exists()
        if complaint:
            raise ApplicationError(
                1003,
                "This bounce cannot be activated: the address filed a spam complaint.",
            )
        Bounce.objects.filter(
            server=server,
            message_stream=bounce.message_stream,
            email__iexact=bounce.email,
            inactive=True,
            can_activate=True,
        ).update(inactive=False)
        Suppression.objects.filter(
            server=server,
            message_stream=bounce.message_stream,
            email=bounce.email.lower(),
            reason__in=[Suppression.Reason.HARD_BOUNCE, Suppression.Reason.MANUAL],
        ).delete()
    bounce.inactive = False
    return bounce


MAX_SUPPRESSION_ITEMS = 50


def suppression_add(
    *, server: Server, message_stream: str, emails: list[str], origin: str = "Customer"
) -> list[dict[str, str | None]]:
    """Suppress ``emails`` on a stream (manual suppression). One result per address:
    ``{"EmailAddress", "Status": "Suppressed"|"Failed", "Message"}``. An address
    already suppressed keeps its original reason. Idempotent."""
    from messages.validation import is_valid_address

    if len(emails) > MAX_SUPPRESSION_ITEMS:
        raise ApplicationError(
            1410, f"You can suppress up to {MAX_SUPPRESSION_ITEMS} addresses per call."
        )
    results: list[dict[str, str | None]] = []
    for email in emails:
        address = (email or "").strip().lower() if isinstance(email, str) else ""
        if not is_valid_address(address):
            results.append(
                {
                    "EmailAddress": email if isinstance(email, str) else str(email),
                    "Status": "Failed",
                    "Message": "Invalid email address.",
                }
            )
            continue
        Suppression.objects.get_or_create(
            server=server,
            message_stream=message_stream,
            email=address,
            defaults={"reason": Suppression.Reason.MANUAL, "origin": origin},
        )
        results.append({"EmailAddress": email, "Status": "Suppressed", "Message": None})
    return results


def suppression_delete(
    *, server: Server, message_stream: str, emails: list[str]
) -> list[dict[str, str | None]]:
    """Remove suppressions; spam complaints cannot be removed (``Failed``).
    Addresses that were not suppressed also report ``Deleted``. Deleting a
    hard-bounce suppression reactivates its bounces. Idempotent."""
    if len(emails) > MAX_SUPPRESSION_ITEMS:
        raise ApplicationError(
            1410, f"You can delete up to {MAX_SUPPRESSION_ITEMS} addresses per call."
        )
    results: list[dict[str, str | None]] = []
    for email in emails:
        address = (email or "").strip().lower() if isinstance(email, str) else ""
        row = Suppression.objects.filter(
            server=server, message_stream=message_stream, email=address
        ).first()
        if row is not None and row.reason == Suppression.Reason.SPAM_COMPLAINT:
            results.append(
                {
                    "EmailAddress": email,
                    "Status": "Failed",
                    "Message": "You do not have the required authority to "
                    "change this suppression.",
                }
            )
            continue
        if row is not None:
            with transaction.atomic():
                row.delete()
                Bounce.objects.filter(
                    server=server,
                    message_stream=message_stream,
                    email__iexact=address,
                    can_activate=True,
                ).update(inactive=False)
        results.append({"EmailAddress": email, "Status": "Deleted", "Message": None})
    return results


# --- Bounce testing ---------------------------------------------------------------

POSTMARK_TESTING_DOMAIN = "bounce-testing.postmarkapp.com"
_TYPES_BY_KEY = {name.lower(): name for name in TYPE_CODES}
# Postmark does not simulate spam complaints through the test domain: they come
# back as hard bounces (postmark-api.md §4).
_NOT_SIMULATED = {"SpamComplaint": "HardBounce"}


def bounce_testing_domains() -> set[str]:
    return {settings.BOUNCE_TESTING_DOMAIN.lower(), POSTMARK_TESTING_DOMAIN}


def bounce_testing_type_for_name(name: str) -> str:
    """``"hard_bounce"``, ``"HardBounce"``, ``"hard-bounce"`` → ``"HardBounce"``;
    anything unknown → ``"HardBounce"`` (Postmark's rule)."""
    key = (name or "").strip().lower().replace("_", "").replace("-", "")
    found = _TYPES_BY_KEY.get(key, "HardBounce")
    return _NOT_SIMULATED.get(found, found)


def bounce_testing_type(*, address: str, header: str = "") -> str | None:
    """The bounce type to simulate for one recipient, or ``None`` to deliver.

    An ``X-PM-Bounce-Type`` header applies to every recipient; otherwise mail to
    ``<Type>@<BOUNCE_TESTING_DOMAIN>`` (or Postmark's own test domain) bounces
    with ``<Type>``. Pure apart from reading settings."""
    if header and header.strip():
        return bounce_testing_type_for_name(header)
    local, _, domain = (address or "").rpartition("@")
    if domain.lower() in bounce_testing_domains():
        return bounce_testing_type_for_name(local)
    return None


_TEST_STATUS = {
    "HardBounce": (
        "5.1.1",
        "550 5.1.1 The email account that you tried to reach "
        "does not exist (bounce testing).",
    ),
    "SoftBounce": (
        "4.2.2",
        "452 4.2.2 The email account that you tried to reach "
        "is over quota (bounce testing).",
    ),
    "Transient": ("4.4.1", "421 4.4.1 Connection timed out (bounce testing)."),
    "DnsError": ("5.4.4", "Host or domain name not found (bounce testing)."),
    "Blocked": (
        "5.7.1",
        "554 5.7.1 Client host blocked using a test blocklist (bounce testing).",
    ),
}


def _testing_report(*, message: Message, email: str, bounce_type: str) -> bytes:
    """A small RFC 3464 report so test bounces have a dump like real ones."""
    status, diagnostic = _TEST_STATUS.get(
        bounce_type, ("5.0.0", f"550 5.0.0 Simulated {bounce_type} (bounce testing).")
    )
    boundary = f"bt-{uuid.uuid4().hex}"
    host = settings.BOUNCE_TESTING_DOMAIN
    lines = [
        f"From: Mail Delivery System <mailer-daemon@{host}>",
        f"Subject: Simulated {bounce_type}",
        f"Message-ID: <{uuid.uuid4()}@{host}>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f' boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        f"This {bounce_type} was produced by bounce testing; nothing was delivered.",
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {host}",
        "",
        f"Final-Recipient: rfc822; {email}",
        "Action: failed",
        f"Status: {status}",
        f"Diagnostic-Code: smtp; {diagnostic}",
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
        f"Message-ID: <{message.header_message_id}>",
        f"X-PM-Message-Id: {message.message_id}",
        f"Subject: {message.subject}",
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()


def bounce_testing_record(
    *, message: Message, bounces: list[tuple[Recipient, str]]
) -> list[Bounce]:
    """Record the simulated bounces of one just-committed message.

    Preconditions: ``message`` and its recipient rows are committed and the rows
    are already in status ``test`` (never queued, so nothing was delivered).
    Each bounce goes through ``bounce_record`` (webhook, stats, suppression like a
    real one). When every recipient was a test, the message is finished (Sent).
    Not idempotent: call once, right after the message is stored."""
    recorded = []
    for row, bounce_type in bounces:
        status, diagnostic = _TEST_STATUS.get(bounce_type, ("", ""))
        recorded.append(
            bounce_record(
                server=message.server,
                message=message,
                email=row.email,
                bounce_type=bounce_type,
                smtp_status=status,
                diagnostic=diagnostic or f"Simulated {bounce_type} (bounce testing).",
                raw_report=_testing_report(
                    message=message, email=row.email, bounce_type=bounce_type
                ),
                origin="bounce_testing",
                recipient=row,
                recipient_status=Recipient.Status.TEST,
            )
        )
    if (
        not Recipient.objects.filter(message=message)
        .exclude(status__in=Recipient.FINAL_STATUSES)
        .exists()
    ):
        Message.objects.filter(id=message.id, status=Message.Status.QUEUED).update(
            status=Message.Status.SENT
        )
    return recorded


def smtp_api_error_record(
    *,
    server: Server,
    emails: list[str],
    error: str,
    message: Message | None = None,
    message_stream: str = "outbound",
    raw_submission: bytes | None = None,
    from_header: str = "",
    subject: str = "",
    tag: str = "",
) -> list[Bounce]:
    """Record what Postmark calls an ``SMTPApiError``: a message accepted at SMTP
    DATA (always 250) that could not be sent to ``emails``, e.g. inactive
    recipients or a From domain not on the account (postmark-api.md §11). One
    bounce per address, counted as ``SMTPApiErrors``; the bounce webhook fires only
    with the server's ``EnableSmtpApiErrorHooks``.

    ``message`` is None when nothing was stored (the whole submission refused);
    then ``raw_submission`` (the client's MIME) becomes the shared bounce dump and
    ``from_header``/``subject``/``tag`` describe it. The dump is archived once,
    before the transaction. Not idempotent."""
    now = timezone.now()
    dump_key = archive_put(
        key=archive_key(
            server_id=server.id,
            kind="smtp-errors" if raw_submission is not None else "bounces",
            when=now,
            name=str(uuid.uuid4()),
        ),
        data=raw_submission if raw_submission is not None else error.encode(),
    )
    with transaction.atomic():
        return [
            bounce_record(
                server=server,
                message=message,
                email=email,
                bounce_type="SMTPApiError",
                details=error,
                dump_key=dump_key,
                origin="smtp_api",
                message_stream=message_stream,
                recipient_status=Recipient.Status.SUPPRESSED,
                from_header=from_header,
                subject=subject,
                tag=tag,
                bounced_at=now,
            )
            for email in emails
        ]


def bounce_dump(*, bounce: Bounce) -> str:
    """The archived raw report of ``bounce`` as text ("" when none or purged).
    Object-storage read: never call inside a transaction."""
    data = archive_get(key=bounce.dump_key)
    return data.decode("utf-8", errors="replace") if data else ""


__all__ = [
    "BounceType",
    "bounce_activate",
    "bounce_dump",
    "bounce_record",
    "bounce_testing_record",
    "bounce_testing_type",
    "smtp_api_error_record",
    "suppression_add",
    "suppression_delete",
]
