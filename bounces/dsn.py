"""Pure parsing of bounce reports: no ORM, no I/O, bytes in, dataclasses out.
The MIME layer of the reason engine (``bounces.engine`` classifies what this
module finds; docs/bounces.md lists the formats).

Understands
- RFC 3464 delivery status notifications (``multipart/report;
  report-type=delivery-status``): the per-recipient fields ``Final-Recipient``,
  ``Original-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code``,
  ``Remote-MTA`` and the returned message (``message/rfc822`` or
  ``text/rfc822-headers``, RFC 6522) with its ``Message-ID`` and
  ``X-PM-Message-Id``; what a DSN leaves out (a missing or broken recipient, an
  empty or cut diagnostic) is completed from ``X-Failed-Recipients``, the
  human-readable text and the returned message;
- RFC 5965 ARF spam complaints (``multipart/report; report-type=feedback-report``)
  and Microsoft JMRP complaints;
- non-standard, plain-text bounces of any MTA (``bounces.engine.formats``: qmail,
  Exim, old Sendmail, Exchange, Domino, Gmail, appliances ...);
- Amazon SES notifications mailed as JSON (``bounces.engine.feeds``);
- out-of-office / vacation auto-replies (RFC 3834 ``Auto-Submitted``, the
  ``X-Autoreply``/``X-Autorespond`` family, subject patterns, first lines).

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
    # The report's wider words (its error section, subject): consulted only when
    # the recipient's own diagnostic decides nothing.
    context: str = ""


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
    original_from: list[str] = field(default_factory=list)
    # The envelope recipient in the returned message's Received "for <...>".
    original_received_for: str = ""
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
        subject=_decoded_header(msg, "Subject"),
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
    if _find_part(msg, "message/feedback-report"):
        _parse_arf(msg, report)
        return
    if _is_jmrp(msg):
        _parse_arf(msg, report)
        report.mta = "Outlook.com JMRP"
        return
    text = _text_of(msg)
    if content_type == "multipart/report" or _find_part(msg, "message/delivery-status"):
        _parse_dsn(msg, report, text)
        if report.recipients:
            return
        report.recipients = []
    report.summary = text[:2000]
    if _parse_json_notification(text, report):
        return
    if _parse_plain_bounce(msg, text, report):
        report.kind = KIND_BOUNCE
        _find_returned_headers_in_text(text, report)
        if not report.original_message_id:
            _read_returned_message(msg, report)
        return
    if is_auto_reply(msg) or _AUTO_TEXT_RE.search(text[:1500]):
        report.kind = KIND_AUTOREPLY
        report.mta = "autoreply"
        sender = parseaddr(_header(msg, "From"))[1].lower()
        report.recipients = [
            ReportRecipient(email=sender, action="autoreplied", diagnostic=text[:2000])
        ]
        _find_returned_headers_in_text(text, report)
        return
    report.kind = KIND_UNKNOWN


# --- RFC 3464 -------------------------------------------------------------------


def _parse_dsn(msg: Message, report: ParsedReport, text: str) -> None:
    report.kind = KIND_DSN
    status_part = _find_part(msg, "message/delivery-status")
    per_message, per_recipient = (
        _dsn_fields(status_part) if status_part is not None else ({}, [])
    )
    report.reporting_mta = _typed_value(per_message.get("reporting-mta", ""))[1]
    report.summary = text[:2000]
    _read_returned_message(msg, report)
    for block in per_recipient:
        final = _typed_value(block.get("final-recipient", ""))[1]
        original = _typed_value(block.get("original-recipient", ""))[1]
        diag_type, diag = _typed_value(block.get("diagnostic-code", ""))
        # Original-Recipient is the address as we sent it (RFC 3464 §2.3.1);
        # Final-Recipient may be an alias it expanded to.
        email = _valid_address(original) or _valid_address(final)
        report.recipients.append(
            ReportRecipient(
                email=email,
                original_recipient=_valid_address(original),
                action=_action(block.get("action", "")),
                status=_status(block.get("status", "")),
                diagnostic=_unfold(diag),
                diagnostic_type=diag_type,
                remote_mta=_typed_value(block.get("remote-mta", ""))[1],
            )
        )
    _complete_recipients(msg, report, text)
    context = _unfold(f"{text[:3000]} {report.subject}")
    for block in report.recipients:
        block.context = context
    hints = " ".join(
        [key for key in per_message]
        + [key for block in per_recipient[:2] for key in block]
        + [r.diagnostic_type[:40] for r in report.recipients[:5]]
    )
    report.mta = _guess_generator(msg, report, hints)


def _dsn_fields(part: Message) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The ``message/delivery-status`` body as (per-message fields, one dict per
    recipient), names lower case. Fields are read in order and a new recipient
    starts at each ``Original-Recipient``/``Final-Recipient`` that would repeat
    one, so blocks without the blank line between them (OpenSMTPD) still split."""
    groups: list[list[tuple[str, str]]] = []
    payload = part.get_payload()
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                group = [(k.lower(), _unfold(str(v))) for k, v in sub.items()]
                body = sub.get_payload()
                if isinstance(body, str) and ":" in body:
                    group.extend(_field_lines(body))
                groups.append(group)
    else:
        text = payload if isinstance(payload, str) else ""
        if part.get("Content-Transfer-Encoding", "").lower() in (
            "base64",
            "quoted-printable",
        ):
            text = _decoded_text(part)
        groups = [_field_lines(chunk) for chunk in re.split(r"\r?\n[ \t]*\r?\n", text)]
    groups = [g for g in groups if g]
    per_message: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    for index, group in enumerate(groups):
        names = {name for name, _v in group}
        if index == 0 and not names & {"final-recipient", "original-recipient"}:
            per_message = dict(reversed(group))
            continue
        if blocks and not names & {"final-recipient", "original-recipient"}:
            for name, value in group:  # the rest of the previous recipient's fields
                blocks[-1].setdefault(name, value)
            continue
        current: dict[str, str] | None = None
        for name, value in group:
            if (
                name in ("original-recipient", "final-recipient")
                and current is not None
            ):
                if name in current:
                    current = None
            if current is None:
                current = {}
                blocks.append(current)
            current.setdefault(name, value)
    if not blocks and any(k in per_message for k in ("action", "status")):
        blocks.append(per_message)  # a recipient block without a recipient
    return per_message, blocks


_FIELD_LINE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,60})[ \t]*:[ \t]*(.*)$")


def _field_lines(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for line in text[:200_000].splitlines():
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
            continue
        match = _FIELD_LINE_RE.match(line)
        if match:
            out.append((match.group(1).lower(), match.group(2).strip()))
    return out


def _complete_recipients(msg: Message, report: ParsedReport, text: str) -> None:
    """Fill what a DSN left out: a missing or broken ``Final-Recipient`` (the
    ``X-Failed-Recipients`` header, the text, the returned ``To:``) and an empty
    or bare ``Diagnostic-Code`` (the human-readable part's words about it)."""
    from .engine import formats

    failed = formats.addresses_in(_header(msg, "X-Failed-Recipients"))
    exclude = _not_recipients(msg, report)
    # A multi-line reply ("550-5.7.1 ...") is cut to its first line in some
    # MTAs' Diagnostic-Code (Sendmail); the session transcript has all of it.
    plain: list[tuple[str, str]] | None = None
    for index, block in enumerate(report.recipients):
        if not block.email:
            if failed[index : index + 1]:
                block.email = failed[index]
            else:
                plain = (
                    plain
                    if plain is not None
                    else formats.plain_failures(text, exclude=exclude)
                )
                taken = {r.email for r in report.recipients}
                spare = [a for a, _d in plain if a not in taken]
                if spare:
                    block.email = spare[0]
                elif index < len(report.original_to):
                    block.email = report.original_to[index]
        if re.search(r"\b\d{3}-\d", block.diagnostic[:20]):
            transcript = formats.transcript_for(block.email, text)
            if transcript:
                block.diagnostic = _unfold(f"{block.diagnostic} {transcript}")[:1500]
        if block.email and _needs_words(block.diagnostic):
            words = _words_about(block.email, text)
            if words:
                block.diagnostic = _unfold((block.diagnostic + " " + words).strip())[
                    :1500
                ]
    if report.recipients and all(
        r.action in ("", "failed") and not r.diagnostic for r in report.recipients
    ):
        for block in report.recipients:
            block.diagnostic = _unfold(text[:1500])


def _needs_words(diagnostic: str) -> bool:
    """True when a diagnostic carries no words, only a code or nothing."""
    return len(re.sub(r"[\d.\s;:#-]|smtp", "", diagnostic.lower())) < 12


def _words_about(address: str, text: str) -> str:
    """The line naming ``address`` in the human-readable text and the lines
    after it up to a blank line (``addr: 550 5.1.1 ...``, ``<addr>: host x
    said: ...``)."""
    if not text:
        return ""
    lower = text[:100_000].lower()
    at = lower.find(address.lower())
    if at < 0:
        return ""
    line_start = lower.rfind("\n", 0, at) + 1
    para_end = re.search(
        r"\n[ \t]*\n|\n[ \t<]*[a-z0-9._%+-]{1,64}@(?!"
        + re.escape(address.split("@")[-1])
        + r"\b)[a-z0-9.-]{1,255}",
        lower[at:],
    )
    next_one = re.search(r"\n[ \t<]*[a-z0-9._%+'-]{1,64}@", lower[at:])
    stops = [m.start() for m in (para_end, next_one) if m]
    stop = at + min(stops) if stops else len(lower)
    words = text[line_start : min(stop, line_start + 1500)]
    return words if len(words.strip()) > len(address) + 3 else ""


def _not_recipients(msg: Message, report: ParsedReport) -> set[str]:
    """Addresses a bounce names that are never the failed recipient: the bounce's
    own From/To (the daemon and the original sender) and the returned message's
    sender."""
    from .engine import formats

    out: set[str] = set()
    for name in (
        "From",
        "To",
        "Reply-To",
        "Return-Path",
        "Sender",
        "Delivered-To",
        "Envelope-To",
    ):
        out.update(formats.addresses_in(_header(msg, name)))
    if report.original_return_path:
        out.add(report.original_return_path)
    out.update(report.original_from)
    # The reporting system's own postmaster, named in "please contact ..." lines.
    for address in list(out):
        domain = address.rpartition("@")[2]
        out.update(f"{local}@{domain}" for local in ("postmaster", "abuse", "root"))
    failed = set(formats.addresses_in(_header(msg, "X-Failed-Recipients")))
    return out - failed - set(report.original_to)


def _action(value: str) -> str:
    """RFC 3464 ``Action`` lower case; "failure" (NTMail) and the like → failed."""
    action = value.strip().lower().split(" ")[0] if value.strip() else ""
    return "failed" if action.startswith("fail") else action


def _valid_address(value: str) -> str:
    address = _bare_address(value)
    if "@" not in address or address.startswith("@") or "/" in address:
        return ""
    return address.strip(".")


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
    rcpts: list[str] = []
    if part is not None:
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            pairs = [(k.lower(), _unfold(str(v))) for k, v in payload[0].items()]
            if not pairs:
                # compat32 treats the report as a message body without headers.
                pairs = _field_lines(str(payload[0].get_payload() or ""))
        else:
            pairs = _field_lines(_decoded_text(part))
        fields = dict(reversed(pairs))
        rcpts = [
            _bare_address(v) for k, v in pairs if k == "original-rcpt-to" and v.strip()
        ]
    report.feedback_type = fields.get("feedback-type", "").strip().lower()
    report.user_agent = fields.get("user-agent", "").strip()
    text_part = _find_part(msg, "text/plain")
    if text_part is not None:
        report.summary = _decoded_text(text_part)[:2000]
    _read_returned_message(msg, report)
    if not rcpts:
        rcpts = report.original_to[:1] or [report.original_received_for]
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
        for rcpt in dict.fromkeys(rcpts)
    ]


def _is_jmrp(msg: Message) -> bool:
    """Microsoft's Junk Mail Reporting Program: the complaint is the returned
    message itself, whose headers carry ``X-HmXmrOriginalRecipient``."""
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("X-HmXmrOriginalRecipient"):
                return True
    return False


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
        if "@" in address
    ]
    for received in headers.get_all("Received") or []:
        match = re.search(
            r"\bfor\s+<?([^\s<>;@]{1,64}@[^\s<>;]{1,255})>?", str(received)
        )
        if match:
            report.original_received_for = match.group(1).lower().rstrip(".")
            break
    report.original_from = [
        address.lower()
        for _name, address in getaddresses(
            [_header(headers, "From"), _header(headers, "Sender")]
        )
        if "@" in address
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

# Words and senders that make a message a bounce even without RFC 3464 parts.
_BOUNCE_TEXT_RE = re.compile(
    r"This is the qmail-send program|following address(?:\(es\))? failed"
    r"|Delivery has failed to these recipients|did not reach (?:some or all|the following)"
    r"|couldn't be delivered|could not be delivered|could not deliver"
    r"|was not delivered to|wasn't delivered|was undeliverable|undeliverable"
    r"|Address not found|Message not delivered|delivery to the following recipient"
    r"|permanent(?:ly)? (?:error|fatal|failure)|Transcript of session follows"
    r"|unable to deliver|not be delivered|delivery (?:has )?failed|failed to deliver"
    r"|returned mail|delivery failure|error sending your mail|invalid user address"
    r"|delivery status notification|mail delivery (?:failed|system|subsystem)"
    r"|trouble delivering|non[- ]?delivery|unable to send|rejected your message"
    r"|message (?:was|has been) (?:rejected|refused|blocked)|failure notice"
    r"|error delivering|has been postponed|advisory-only|could not be sent"
    r"|automatically rejected",
    re.I,
)
_MAILER_DAEMON_RE = re.compile(
    r"^(mailer-daemon|mailer_daemon|postmaster|post_master|mail-daemon|"
    r"mdaemon|mailadmin|daemon)(@|$)",
    re.I,
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|delivery (status notification|failure|failed|problem|error)"
    r"|returned mail|failure notice|mail delivery (failed|system)|non[- ]?delivery"
    r"|delivery notification|could not (be )?(sent|delivered)|not delivered"
    r"|mail system error|error sending|returned to sender|rejected|bounced?"
    r"|nondeliverable|delivery report|warning: could not send",
    re.I,
)


def _parse_plain_bounce(msg: Message, text: str, report: ParsedReport) -> bool:
    from .engine import formats

    sender = parseaddr(_header(msg, "From"))[1] or _header(msg, "From")
    subject = _header(msg, "Subject")
    failed = formats.addresses_in(_header(msg, "X-Failed-Recipients"))
    looks_like_bounce = (
        bool(failed)
        or bool(_MAILER_DAEMON_RE.match(sender.strip()))
        or bool(_BOUNCE_SUBJECT_RE.search(subject))
        or bool(_BOUNCE_TEXT_RE.search(text[:20_000]))
    )
    if not looks_like_bounce or not text.strip():
        return False
    if is_auto_reply(msg) and not (
        failed
        or _MAILER_DAEMON_RE.match(sender.strip())
        or _BOUNCE_TEXT_RE.search(text[:5_000])
    ):
        return False  # an out-of-office with "not delivered" in its subject line
    _read_returned_message(msg, report)
    exclude = _not_recipients(msg, report)
    found = formats.plain_failures(text, exclude=exclude, prefer=failed)
    if not found and not report.original_to:
        copy = text[len(formats.error_section(text)) :]
        to_line = re.search(r"^To:[ \t]*(.{1,500})$", copy, re.M | re.I)
        if to_line:
            report.original_to = formats.addresses_in(to_line.group(1))
    if not found and report.original_to:
        found = [(report.original_to[0], formats.error_section(text)[:1500])]
    if not found:
        return False
    # The subject often states the reason (Domino, appliances): keep it in view.
    context = _unfold(f"{formats.error_section(text)[:3000]} {subject}")
    section = formats.error_section(text)[:5000]
    delayed = bool(_DELAY_WORDS_RE.search(section)) and not _GAVE_UP_RE.search(section)
    for address, words in found[:100]:
        block = _heuristic_recipient(address, words)
        block.context = context
        if delayed:
            block.action = "delayed"
        report.recipients.append(block)
    report.mta = formats.detect_mta(
        " ".join([sender, subject, _header(msg, "Received")[:300], text[:3000]]),
        "generic",
    )
    return True


def _heuristic_recipient(address: str, reason: str) -> ReportRecipient:
    reason = _unfold(reason)
    status = _status(reason)
    return ReportRecipient(
        email=address.strip("<>.").lower(),
        action="delayed" if _DELAY_WORDS_RE.search(reason[:1500]) else "failed",
        status=status,
        diagnostic=reason[:1500],
        diagnostic_type="smtp",
    )


_DELAY_WORDS_RE = re.compile(
    r"this is a warning message only|will (?:continue|keep) (?:trying|to try)"
    r"|still trying|not yet been delivered|delivery (?:is )?delayed"
    r"|message (?:is|has been) delayed|has been delayed|will retry|do not need to resend"
    r"|temporarily deferred.{0,80}will be retried|delivery attempts will continue"
    r"|will be retried|temporary (?:failure|problem)|will try again|retry(?:ing)? for"
    r"|\bwarning\b.{0,20}could not (?:send|deliver)",
    re.I,
)


# Words that say delivery was given up, whatever else the report says.
_GAVE_UP_RE = re.compile(
    r"envelope expired|giving up|gave up|retry timeout exceeded|in the queue too long"
    r"|permanent(?:ly)? (?:error|failure|fatal)|delivery time expired",
    re.I,
)


# --- JSON notifications (Amazon SES via SNS, forwarded by mail) ------------------


def _parse_json_notification(text: str, report: ParsedReport) -> bool:
    """An SES/SNS notification mailed as a JSON body (an SNS e-mail subscription)."""
    from .engine import feeds

    start = text.find("{")
    if start < 0 or "notificationType" not in text and "eventType" not in text:
        return False
    items = feeds.json_failures(text[start:])
    if not items:
        return False
    report.kind = KIND_BOUNCE
    report.mta = items[0].source
    for item in items:
        report.recipients.append(
            ReportRecipient(
                email=item.email.lower(),
                action=item.action,
                status=item.status,
                diagnostic=item.diagnostic,
                diagnostic_type="smtp",
            )
        )
        if item.kind == "complaint":
            report.kind = KIND_ARF
            report.feedback_type = item.diagnostic or "abuse"
    report.pm_message_id = items[0].message_id
    return True


# --- Auto-replies (RFC 3834) ----------------------------------------------------

_AUTO_SUBJECT_RE = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheit"
    r"|absence|r[ée]ponse automatique|vacation|away from (the )?office|i am away"
    r"|i'm away|on leave|ooo\b)",
    re.I,
)


# The first lines of an auto-reply sent without any of the headers above.
_AUTO_TEXT_RE = re.compile(
    r"\b(?:I am|I'm|I will be) (?:currently )?(?:out of (?:the )?office|away|on "
    r"(?:vacation|holiday|leave))|this is an automated (?:response|reply)"
    r"|automatic(?:ally generated)? (?:reply|response)|out of office",
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
    from .engine import formats

    haystack = " ".join(
        [
            report.reporting_mta[:200],
            _header(msg, "From")[:200],
            hints[:2000],
            report.summary[:400],
            _header(msg, "Received")[:400],
        ]
    )
    return formats.detect_mta(haystack, "rfc3464")


def _find_part(msg: Message, content_type: str) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _text_of(msg: Message) -> str:
    """The report's own human-readable text: its text/plain parts (the whole
    body for non-multipart mail), not descending into a returned message;
    text/html with the tags stripped when there is no plain text."""
    if not msg.is_multipart():
        text = _decoded_text(msg)
        if msg.get_content_type() == "text/html":
            text = _strip_html(text)
        return text
    plain: list[str] = []
    html: list[str] = []
    stack = [msg]
    while stack and len(plain) + len(html) < 50:
        part = stack.pop(0)
        content_type = part.get_content_type()
        if part.is_multipart() and not content_type.startswith("message/"):
            payload = part.get_payload()
            if isinstance(payload, list):
                stack = [p for p in payload if isinstance(p, Message)] + stack
            continue
        if content_type == "text/plain" and part.get_filename() is None:
            plain.append(_decoded_text(part))
        elif content_type == "text/html":
            html.append(_strip_html(_decoded_text(part)))
        elif content_type.startswith("multipart/"):
            # A multipart whose boundary the parser could not read: its raw text.
            plain.append(_decoded_text(part))
    return "\n".join(plain) if any(t.strip() for t in plain) else "\n".join(html)


_TAG_RE = re.compile(r"<(?:br|p|div|tr|li|h\d)\b[^>]{0,500}>|<[^>]{0,2000}>", re.I)


def _drop_blocks(text: str, names: tuple[str, ...]) -> str:
    """``text`` without its ``<style>``/``<script>`` elements (linear: find, not
    a backtracking regex)."""
    lower = text.lower()
    out: list[str] = []
    at = 0
    while True:
        starts = [i for i in (lower.find(f"<{n}", at) for n in names) if i >= 0]
        if not starts:
            out.append(text[at:])
            return " ".join(out)
        start = min(starts)
        name = next(n for n in names if lower.startswith(f"<{n}", start))
        out.append(text[at:start])
        end = lower.find(f"</{name}", start)
        if end < 0:
            return " ".join(out)
        at = end + len(name) + 2


def _strip_html(text: str) -> str:
    import html

    text = _drop_blocks(text[:500_000], ("style", "script"))
    text = _TAG_RE.sub(
        lambda m: (
            "\n"
            if m.group(0)[1:3].lower()
            in ("br", "p ", "p>", "di", "tr", "li", "h1", "h2", "h3")
            else " "
        ),
        text,
    )
    return html.unescape(text)


def _decoded_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        payload = None
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        if b"\x1b$B" in payload[:100_000] and charset in ("utf-8", "us-ascii"):
            charset = "iso-2022-jp"  # Japanese mail that did not declare it
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


def _decoded_header(msg: Message, name: str) -> str:
    """A header with RFC 2047 encoded words decoded (raw text when they are broken)."""
    from email.header import decode_header, make_header

    raw = _header(msg, name)
    if "=?" not in raw:
        return raw
    try:
        return _unfold(str(make_header(decode_header(raw))))
    except Exception:  # noqa: BLE001 - a broken encoded word stays as it came
        return raw


def _unfold(value: str) -> str:
    return re.sub(r"\s*\r?\n\s*", " ", value or "").strip()


def _bare_address(value: str) -> str:
    value = (value or "").strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    address = parseaddr(value)[1] or value.strip("<> ")
    return address.lower()
