"""Pure parsing of bounce reports: no ORM, no I/O, bytes in, dataclasses out.

Understands
- RFC 3464 delivery status notifications (``multipart/report;
  report-type=delivery-status``): the per-recipient fields ``Final-Recipient``,
  ``Original-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code``,
  ``Remote-MTA`` and the returned message (``message/rfc822`` or
  ``text/rfc822-headers``, RFC 6522) with its ``Message-ID`` and
  ``X-PM-Message-Id``;
- RFC 5965 ARF spam complaints (``multipart/report; report-type=feedback-report``);
- non-standard, plain-text bounces by their well-known shapes (qmail's "Hi. This
  is the qmail-send program", Exim's "The following address(es) failed", old
  Exchange "Delivery has failed to these recipients", Gmail's "Address not found"
  text, and generic mailer-daemon messages);
- out-of-office / vacation auto-replies (RFC 3834 ``Auto-Submitted``, the
  ``X-Autoreply``/``X-Autorespond`` family, subject patterns).

``parse_report`` never raises on hostile or malformed input: anything it cannot
read becomes ``kind="unknown"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes, message_from_string, policy
from email.message import Message
from email.utils import getaddresses, parseaddr

# Longest input we look at; bigger reports are truncated (the raw is archived whole).
MAX_PARSE_BYTES = 2 * 1024 * 1024

KIND_DSN = "dsn"
KIND_ARF = "arf"
KIND_BOUNCE = "bounce"  # non-standard bounce recognised by heuristics
KIND_AUTOREPLY = "autoreply"
KIND_UNKNOWN = "unknown"


@dataclass
class ReportRecipient:
    """One recipient's outcome inside a report (an RFC 3464 per-recipient block)."""

    email: str = ""  # Final-Recipient address (or the heuristic's address)
    original_recipient: str = ""
    action: str = ""  # failed | delayed | delivered | relayed | expanded
    status: str = ""  # RFC 3463 enhanced status, e.g. "5.1.1"
    diagnostic: str = ""  # Diagnostic-Code text after the "smtp;" type
    diagnostic_type: str = ""  # "smtp", "X-Postfix", ...
    remote_mta: str = ""


@dataclass
class ParsedReport:
    kind: str = KIND_UNKNOWN
    mta: str = ""  # which heuristic or generator recognised it
    recipients: list[ReportRecipient] = field(default_factory=list)
    reporting_mta: str = ""
    subject: str = ""
    from_address: str = ""
    # The returned (original) message, when the report carries it.
    original_message_id: str = ""  # its Message-ID, without <>
    pm_message_id: str = ""  # its X-PM-Message-Id (our MessageID)
    original_return_path: str = ""  # its Return-Path (our VERP address)
    original_to: list[str] = field(default_factory=list)
    # ARF (RFC 5965) fields.
    feedback_type: str = ""
    user_agent: str = ""
    # Free text of the human-readable part (first 2 000 chars), for Details.
    summary: str = ""

    @property
    def first_failure(self) -> ReportRecipient | None:
        """The first recipient that did not succeed (RFC 3464 §2.3.3 success
        actions are delivered, relayed and expanded)."""
        for recipient in self.recipients:
            if recipient.action.lower() not in ("delivered", "relayed", "expanded"):
                return recipient
        return None


_UUID_RE = re.compile(
    r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b", re.I
)
# Bounded repetitions and a "not inside a word" lookbehind keep the scan linear
# (an unbounded ``[...]+@`` rescans a long run of letters from every position).
_ADDRESS_RE = re.compile(
    r"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-])"
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]{1,64}@"
    r"[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8}"
)
_ENHANCED_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def parse_report(raw: bytes) -> ParsedReport:
    """Parse one raw report (the whole message as received at the bounce MX)."""
    try:
        msg = message_from_bytes(raw[:MAX_PARSE_BYTES], policy=policy.compat32)
    except Exception:  # noqa: BLE001 - hostile input must never crash the MX
        return ParsedReport()
    report = ParsedReport(
        subject=_header(msg, "Subject"),
        from_address=parseaddr(_header(msg, "From"))[1].lower(),
    )
    try:
        _parse_into(msg, report)
    except Exception:  # noqa: BLE001 - keep what we got; the raw is archived anyway
        report.kind = report.kind or KIND_UNKNOWN
    return report


def _parse_into(msg: Message, report: ParsedReport) -> None:
    content_type = msg.get_content_type()
    report_type = str(msg.get_param("report-type") or "").lower()
    if content_type == "multipart/report" and report_type == "feedback-report":
        _parse_arf(msg, report)
        return
    if content_type == "multipart/report" or _find_part(msg, "message/delivery-status"):
        _parse_dsn(msg, report)
        if report.recipients:
            return
    if _find_part(msg, "message/feedback-report"):
        _parse_arf(msg, report)
        return
    text = _text_of(msg)
    report.summary = text[:2000]
    if _parse_plain_bounce(msg, text, report):
        report.kind = KIND_BOUNCE
        _find_returned_headers_in_text(text, report)
        return
    if is_auto_reply(msg):
        report.kind = KIND_AUTOREPLY
        report.mta = "autoreply"
        sender = parseaddr(_header(msg, "From"))[1].lower()
        report.recipients = [ReportRecipient(email=sender, action="autoreplied")]
        _find_returned_headers_in_text(text, report)
        return
    report.kind = KIND_UNKNOWN


# --- RFC 3464 -------------------------------------------------------------------


def _parse_dsn(msg: Message, report: ParsedReport) -> None:
    report.kind = KIND_DSN
    status_part = _find_part(msg, "message/delivery-status")
    blocks = _field_blocks(status_part) if status_part is not None else []
    if blocks:
        per_message, per_recipient = blocks[0], blocks[1:]
        if "final-recipient" in per_message or "original-recipient" in per_message:
            # Some MTAs omit the per-message block entirely.
            per_message, per_recipient = {}, blocks
        report.reporting_mta = _typed_value(per_message.get("reporting-mta", ""))[1]
        for block in per_recipient:
            final = _typed_value(block.get("final-recipient", ""))[1]
            original = _typed_value(block.get("original-recipient", ""))[1]
            diag_type, diag = _typed_value(block.get("diagnostic-code", ""))
            report.recipients.append(
                ReportRecipient(
                    email=_bare_address(final or original),
                    original_recipient=_bare_address(original),
                    action=block.get("action", "").strip().lower(),
                    status=_status(block.get("status", "")),
                    diagnostic=_unfold(diag),
                    diagnostic_type=diag_type,
                    remote_mta=_typed_value(block.get("remote-mta", ""))[1],
                )
            )
    text_part = _find_part(msg, "text/plain")
    if text_part is not None:
        report.summary = _decoded_text(text_part)[:2000]
    hints = " ".join(
        [key for block in blocks[:2] for key in block]
        + [r.diagnostic_type[:40] for r in report.recipients[:5]]
    )
    report.mta = _guess_generator(msg, report, hints)
    _read_returned_message(msg, report)


def _field_blocks(part: Message) -> list[dict[str, str]]:
    """The ``message/delivery-status`` body as a list of field dicts (lower-case
    names). The stdlib parses it into sub-messages; fall back to splitting the
    text ourselves when a sender mislabelled it."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                blocks.append({k.lower(): _unfold(str(v)) for k, v in sub.items()})
        # compat32 may also leave a trailing body with more blocks.
        return [b for b in blocks if b]
    text = payload if isinstance(payload, str) else ""
    if part.get("Content-Transfer-Encoding", "").lower() in (
        "base64",
        "quoted-printable",
    ):
        text = _decoded_text(part)
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        headers = message_from_string(chunk.strip() + "\n\n", policy=policy.compat32)
        block = {k.lower(): _unfold(str(v)) for k, v in headers.items()}
        if block:
            blocks.append(block)
    return blocks


def _typed_value(value: str) -> tuple[str, str]:
    """``"rfc822; bob@example.net"`` → ``("rfc822", "bob@example.net")``."""
    value = (value or "").strip()
    kind, sep, rest = value.partition(";")
    if not sep:
        return "", value
    return kind.strip(), rest.strip()


def _status(value: str) -> str:
    match = _ENHANCED_RE.search(value or "")
    return ".".join(match.groups()) if match else ""


# --- RFC 5965 -------------------------------------------------------------------


def _parse_arf(msg: Message, report: ParsedReport) -> None:
    report.kind = KIND_ARF
    report.mta = "arf"
    part = _find_part(msg, "message/feedback-report")
    fields: dict[str, str] = {}
    if part is not None:
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            fields = {k.lower(): _unfold(str(v)) for k, v in payload[0].items()}
            if not fields:
                # compat32 treats the report as a message body without headers.
                fields = _fields_from_text(str(payload[0].get_payload() or ""))
        else:
            fields = _fields_from_text(_decoded_text(part))
    report.feedback_type = fields.get("feedback-type", "").strip().lower()
    report.user_agent = fields.get("user-agent", "").strip()
    text_part = _find_part(msg, "text/plain")
    if text_part is not None:
        report.summary = _decoded_text(text_part)[:2000]
    _read_returned_message(msg, report)
    rcpt = _bare_address(fields.get("original-rcpt-to", ""))
    if not rcpt and report.original_to:
        rcpt = report.original_to[0]
    if not report.original_return_path:
        report.original_return_path = _bare_address(
            fields.get("original-mail-from", "")
        )
    report.recipients = [
        ReportRecipient(
            email=rcpt,
            original_recipient=rcpt,
            action="complained",
            diagnostic=report.feedback_type or "abuse",
        )
    ]


def _fields_from_text(text: str) -> dict[str, str]:
    headers = message_from_string(text.strip() + "\n\n", policy=policy.compat32)
    return {k.lower(): _unfold(str(v)) for k, v in headers.items()}


# --- The returned message -------------------------------------------------------


def _read_returned_message(msg: Message, report: ParsedReport) -> None:
    """Fill the original message's identifiers from the third report part."""
    for part in msg.walk():
        content_type = part.get_content_type()
        headers: Message | None = None
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                headers = payload[0]
        elif content_type in ("text/rfc822-headers", "text/rfc822_headers"):
            headers = message_from_string(
                _decoded_text(part).strip() + "\n\n", policy=policy.compat32
            )
        if headers is not None and len(headers.keys()):
            _take_headers(headers, report)
            return


def _take_headers(headers: Message, report: ParsedReport) -> None:
    report.original_message_id = _header(headers, "Message-ID").strip().strip("<>")
    pm_id = _header(headers, "X-PM-Message-Id")
    match = _UUID_RE.search(pm_id)
    report.pm_message_id = match.group(1).lower() if match else ""
    report.original_return_path = _bare_address(_header(headers, "Return-Path"))
    report.original_to = [
        address.lower()
        for _name, address in getaddresses(
            [_header(headers, "To"), _header(headers, "Cc")]
        )
        if address
    ]


def _find_returned_headers_in_text(text: str, report: ParsedReport) -> None:
    """Plain-text bounces quote the original message inline: find our headers."""
    match = re.search(r"^\s*X-PM-Message-Id:\s*(\S+)", text, re.I | re.M)
    if match:
        uuid_match = _UUID_RE.search(match.group(1))
        report.pm_message_id = uuid_match.group(1).lower() if uuid_match else ""
    mids = re.findall(r"^\s*Message-ID:\s*<([^>\s]+)>", text, re.I | re.M)
    if mids:
        report.original_message_id = mids[-1]
    rp = re.search(r"^\s*Return-Path:\s*<([^>\s]+)>", text, re.I | re.M)
    if rp:
        report.original_return_path = rp.group(1).lower()


# --- Non-standard bounces -------------------------------------------------------

_QMAIL_RE = re.compile(r"This is the qmail-send program", re.I)
_QMAIL_RCPT_RE = re.compile(
    r"^<([^>\s@]{1,64}@[^>\s@]{1,255})>:[ \t]*\n(.*?)(?=^<[^>\n]{1,330}>:|^---|\Z)",
    re.M | re.S,
)
_EXIM_RE = re.compile(r"following address(?:\(es\))? failed", re.I)
# Horizontal whitespace only and one "@": no nested or overlapping repetition,
# so a hostile body cannot make the match quadratic.
_EXIM_RCPT_RE = re.compile(
    r"^[ \t]{2,}([^\s@]{1,64}@[^\s@]{1,255})[ \t]*\n((?:[ \t]{4,}\S.*(?:\n|\Z))+)",
    re.M,
)
_EXCHANGE_RE = re.compile(
    r"Delivery has failed to these recipients|Your message did not reach some or all"
    r"|couldn't be delivered|could not be delivered to",
    re.I,
)
_EXCHANGE_DIAG_RE = re.compile(r"#(\d{3}[ -]\d\.\d{1,3}\.\d{1,3}[^#]*)##?", re.S)
_GMAIL_RE = re.compile(
    r"Address not found|Your message wasn't delivered|Message not delivered"
    r"|Delivery to the following recipient failed",
    re.I,
)
_MAILER_DAEMON_RE = re.compile(r"^(mailer-daemon|postmaster)@", re.I)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|delivery (status notification|failure|failed)|returned mail"
    r"|failure notice|mail delivery (failed|system)|non[- ]?delivery",
    re.I,
)


def _parse_plain_bounce(msg: Message, text: str, report: ParsedReport) -> bool:
    if _QMAIL_RE.search(text):
        report.mta = "qmail"
        for address, reason in _QMAIL_RCPT_RE.findall(text):
            report.recipients.append(_heuristic_recipient(address, reason))
        return bool(report.recipients)
    if _EXIM_RE.search(text):
        report.mta = "exim"
        head = re.split(r"^-{3,}.*copy of the message", text, flags=re.M | re.I)[0]
        for address, reason in _EXIM_RCPT_RE.findall(head):
            report.recipients.append(_heuristic_recipient(address, reason))
        if not report.recipients:
            for address in _addresses_after(head, _EXIM_RE):
                report.recipients.append(_heuristic_recipient(address, head))
        return bool(report.recipients)
    if _EXCHANGE_RE.search(text):
        report.mta = "exchange"
        diag_match = _EXCHANGE_DIAG_RE.search(text)
        diag = _unfold(diag_match.group(1)) if diag_match else ""
        for address in _addresses_after(text, _EXCHANGE_RE)[:1] or []:
            report.recipients.append(_heuristic_recipient(address, diag or text[:500]))
        return bool(report.recipients)
    sender = parseaddr(_header(msg, "From"))[1]
    looks_like_bounce = bool(_MAILER_DAEMON_RE.match(sender or "")) or bool(
        _BOUNCE_SUBJECT_RE.search(_header(msg, "Subject"))
    )
    if looks_like_bounce or _GMAIL_RE.search(text):
        report.mta = "gmail" if _GMAIL_RE.search(text) else "generic"
        addresses = _addresses_after(text, _GMAIL_RE) or [
            a for a in _ADDRESS_RE.findall(text) if not _MAILER_DAEMON_RE.match(a)
        ]
        if addresses:
            report.recipients.append(_heuristic_recipient(addresses[0], text[:2000]))
            return True
    return False


def _addresses_after(text: str, marker: re.Pattern[str]) -> list[str]:
    match = marker.search(text)
    tail = text[match.end() :] if match else text
    return [a.strip(".").lower() for a in _ADDRESS_RE.findall(tail)]


def _heuristic_recipient(address: str, reason: str) -> ReportRecipient:
    reason = _unfold(reason)
    status = _status(reason)
    return ReportRecipient(
        email=address.strip("<>.").lower(),
        action="delayed" if status.startswith("4") else "failed",
        status=status,
        diagnostic=reason[:1000],
        diagnostic_type="smtp",
    )


# --- Auto-replies (RFC 3834) ----------------------------------------------------

_AUTO_SUBJECT_RE = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheit"
    r"|absence|r[ée]ponse automatique|vacation|away from (the )?office|i am away"
    r"|i'm away|on leave|ooo\b)",
    re.I,
)


def is_auto_reply(msg: Message) -> bool:
    """True for vacation/out-of-office replies. RFC 3834 §5: ``Auto-Submitted`` with
    any value but ``no``; plus the de-facto ``X-Autoreply``/``X-Autorespond``
    headers (Exchange, Yahoo, cPanel) and well-known subject prefixes."""
    auto_submitted = _header(msg, "Auto-Submitted").strip().lower()
    # Only called for mail that is not a DSN/ARF/bounce: anything automatic that
    # answers our return path is an auto-reply (Exchange says "auto-generated").
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if _header(msg, "X-Autoreply") or _header(msg, "X-Autorespond"):
        return True
    if _header(msg, "Precedence").strip().lower() == "auto_reply":
        return True
    subject = re.sub(
        r"^(re|aw|fwd?):\s*", "", _header(msg, "Subject").strip(), flags=re.I
    )
    return bool(_AUTO_SUBJECT_RE.search(subject))


# --- Helpers --------------------------------------------------------------------


def _guess_generator(msg: Message, report: ParsedReport, hints: str) -> str:
    # ``hints``: delivery-status field names (X-Postfix-Queue-ID) and
    # Diagnostic-Code types (X-Postfix).
    # Never ``str(part)``: re-serialising a hostile part is quadratic in stdlib.
    haystack = " ".join(
        [
            report.reporting_mta[:200],
            _header(msg, "From")[:200],
            report.summary[:400],
            _header(msg, "Received")[:400],
            hints[:2000],
        ]
    ).lower()
    for needle, name in (
        ("postfix", "postfix"),
        ("exim", "exim"),
        ("google", "gmail"),
        ("gmail", "gmail"),
        ("outlook", "exchange"),
        ("exchange", "exchange"),
        ("qmail", "qmail"),
        ("sendmail", "sendmail"),
    ):
        if needle in haystack:
            return name
    return "rfc3464"


def _find_part(msg: Message, content_type: str) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _text_of(msg: Message) -> str:
    """Concatenated text/plain parts (the whole body for non-multipart mail)."""
    if not msg.is_multipart():
        return _decoded_text(msg)
    texts = [
        _decoded_text(part)
        for part in msg.walk()
        if part.get_content_type() == "text/plain"
    ]
    return "\n".join(texts)


def _decoded_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:
            return payload.decode("utf-8", errors="replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    return _unfold(str(value))


def _unfold(value: str) -> str:
    return re.sub(r"\s*\r?\n\s*", " ", value or "").strip()


def _bare_address(value: str) -> str:
    value = (value or "").strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    address = parseaddr(value)[1] or value.strip("<> ")
    return address.lower()
