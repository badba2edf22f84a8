"""The thick, synchronous core of SMTP submission (free of aiosmtpd types).

The aiosmtpd edge (``handler.py``) only shuttles bytes: every decision about an
SMTP transaction is made here and tested without sockets.

What answers at the SMTP level and what becomes an ``SMTPApiError`` record is
written down in ``docs/smtp.md``. In short: whatever concerns the session or the
envelope (authentication, address syntax, recipient count, size, rate) gets an
SMTP reply code; whatever is found inside an accepted message (its headers,
From domain, stream, suppressed recipients, attachments) is answered ``250`` like
Postmark does and recorded as an ``SMTPApiError`` bounce (TypeCode 100007).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses

from django.conf import settings
from django.db import DatabaseError

from accounts.models import Server
from accounts.selectors import server_for_token
from accounts.tokens import token_normalize
from bounces.services import smtp_api_error_record
from messages.email import Attachment, OutboundEmail
from messages.services import SendContext, SendResult, message_send_batch
from messages.validation import MAX_RECIPIENTS, is_valid_address, normalize_track_links
from postmark_clone.errors import ApplicationError

log = logging.getLogger(__name__)

# RFC 5322 §2.2: field names are printable US-ASCII except the colon.
_FIELD_NAME = re.compile(rb"^[\x21-\x39\x3b-\x7e]+$")
X_PM_METADATA = "x-pm-metadata-"
# Control headers read and removed before delivery, plus Bcc (RFC 5322 §3.6.3:
# the Bcc field must not reach the other recipients).
STRIPPED_HEADERS = frozenset(
    {
        "x-pm-message-stream",
        "x-pm-tag",
        "x-pm-trackopens",
        "x-pm-tracklinks",
        "x-pm-keepid",
        "x-pm-bounce-type",
        "bcc",
    }
)


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: basic code, RFC 3463 enhanced status code, text."""

    code: int
    status: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.status} {self.text}"


AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
AUTH_INVALID = Reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_SMTP_DISABLED = Reply(
    535, "5.7.8", "Authentication credentials invalid: SMTP is disabled for this server"
)
SENDER_OK = Reply(250, "2.1.0", "Sender OK")
RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
TOO_MANY_RECIPIENTS = Reply(
    452, "4.5.3", f"Too many recipients; at most {MAX_RECIPIENTS} per message"
)
TEMPORARY_FAILURE = Reply(
    451, "4.3.0", "Temporary failure; the message was not accepted, try again later"
)


@dataclass(frozen=True)
class AuthOutcome:
    server: Server | None
    reply: Reply


def authenticate(*, username: bytes | str, password: bytes | str) -> AuthOutcome:
    """Check SMTP AUTH credentials: a server API token as username *and* password.

    Postmark style: both fields carry the same server token (account tokens and
    the ``POSTMARK_API_TEST`` token do not work). Reads only; safe to call twice.
    """
    user = _credential(username)
    secret = _credential(password)
    if not user or user != secret:
        return AuthOutcome(None, AUTH_INVALID)
    server = server_for_token(token=user)
    if server is None:
        return AuthOutcome(None, AUTH_INVALID)
    if not server.smtp_api_activated:
        return AuthOutcome(None, AUTH_SMTP_DISABLED)
    return AuthOutcome(server, AUTH_OK)


def _credential(value: bytes | str) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return ""
    if not (value.isascii() and value.isprintable()):
        return ""  # no token has these; NUL would even fail the lookup query
    return token_normalize(value)


def check_sender(address: str) -> Reply:
    """``MAIL FROM``: only the syntax matters (the From header is what we check
    against the account, like Postmark; our Return-Path replaces the envelope
    sender on delivery)."""
    if not is_valid_address(address):
        return Reply(553, "5.1.7", f"Bad sender address syntax: <{_echo(address)}>")
    return SENDER_OK


def check_recipient(address: str, *, accepted: int) -> Reply:
    """``RCPT TO``: syntax and the 50-recipient limit. RFC 5321 §4.5.3.1.10 asks
    for ``452`` so the client sends the rest in another transaction."""
    if accepted >= MAX_RECIPIENTS:
        return TOO_MANY_RECIPIENTS
    if not is_valid_address(address):
        return Reply(
            553,
            "5.1.3",
            f"Bad destination mailbox address syntax: <{_echo(address)}>",
        )
    return RECIPIENT_OK


@dataclass
class ParsedSubmission:
    """What ``parse_submission`` found in the DATA bytes."""

    email: OutboundEmail
    defects: list[str] = field(default_factory=list)
    # An X-PM header with an invalid value: recorded as an SMTPApiError.
    error: ApplicationError | None = None


@dataclass
class _Field:
    name: str  # as written
    lines: list[bytes]

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def value(self) -> str:
        """Unfolded (RFC 5322 §2.2.3), UTF-8 decoded (RFC 6532) value."""
        raw = b"".join(self.lines).split(b":", 1)[1]
        text = raw.decode("utf-8", "replace").replace("\r", "").replace("\n", "")
        return text.strip()


def _split(data: bytes) -> tuple[list[_Field], list[str], bytes, bytes]:
    """Split a message into header fields, defects, the separator and the body.

    Works on bytes so the body (and every header we keep) stays byte-identical.
    """
    newline = b"\r\n"
    end = data.find(b"\r\n\r\n")
    if end == -1 and data.find(b"\n\n") != -1:
        newline = b"\n"
        end = data.find(b"\n\n")
    if data.startswith(newline):  # no header at all
        return [], ["MissingHeaders"], newline, data[len(newline) :]
    if end == -1:
        head, body = data, b""
    else:
        head, body = data[:end], data[end + 2 * len(newline) :]
    fields: list[_Field] = []
    defects: list[str] = []
    lines = head.split(newline)
    for index, line in enumerate(lines):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].lines.append(newline + line)
            continue
        name, colon, _rest = line.partition(b":")
        name = name.rstrip(b" \t")  # obsolete WSP before the colon (RFC 5322 §4.5)
        if not colon or not _FIELD_NAME.match(name):
            # Not a header line: like Python's parser, the body starts here.
            defects.append("MissingHeaderBodySeparatorDefect")
            remainder = newline.join(lines[index:])
            body = remainder + (newline * 2 + body if end != -1 else b"")
            return fields, defects, newline, body
        fields.append(_Field(name.decode("ascii", "replace"), [line]))
    return fields, defects, newline, body


def _decoded(value: str) -> str:
    """Decode RFC 2047 encoded words (rare; skipped on the fast path)."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _address_header(value: str) -> str:
    """An address list as one string, encoded display names decoded and quoted."""
    if "=?" not in value:
        return value
    try:
        parsed = HeaderParser(policy=policy.default).parsestr(f"To: {value}\n\n")
        return str(parsed["To"])
    except (ValueError, IndexError, TypeError, LookupError, AttributeError):
        # AttributeError: the stdlib's header registry on some malformed groups
        # (an encoded word followed by ``:``); the value is used as it came.
        return value


def _bool_header(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ApplicationError(300, f"Invalid '{name}' value '{value}': use true or false.")


def _attachments(data: bytes, defects: list[str]) -> list[Attachment]:
    """Names and types of the MIME parts that carry a filename (RFC 2183)."""
    message = BytesParser(policy=policy.compat32).parsebytes(data)
    found: list[Attachment] = []
    for part in message.walk():
        defects.extend(type(d).__name__ for d in part.defects)
        if part.is_multipart():
            continue
        name = part.get_filename()
        if name:
            found.append(
                Attachment(
                    name=_decoded(str(name)),
                    content=b"",
                    content_type=part.get_content_type(),
                )
            )
    return found


def parse_submission(
    *, data: bytes, envelope_recipients: list[str]
) -> ParsedSubmission:
    """Turn DATA bytes into an ``OutboundEmail`` with ``raw`` set.

    Reads and strips Postmark's ``X-PM-*`` control headers and any ``Bcc``
    header; envelope recipients absent from To and Cc become the Bcc list. The
    rest of the message is kept byte for byte, defects and all (they are listed
    in ``defects``). Pure function.
    """
    fields, defects, newline, body = _split(data)
    values: dict[str, str] = {}
    metadata: dict[str, str] = {}
    kept: list[bytes] = []
    error: ApplicationError | None = None
    stream, tag = "outbound", ""
    track_opens: bool | None = None
    track_links: str | None = None
    keep_id = False
    bounce_type = ""
    for item in fields:
        key = item.key
        if key.startswith(X_PM_METADATA):
            meta_key = item.name[len(X_PM_METADATA) :]
            name, n = meta_key, 2
            while name in metadata:  # duplicates get a numeric suffix
                name, n = f"{meta_key}{n}", n + 1
            metadata[name] = _decoded(item.value)
            continue
        if key not in STRIPPED_HEADERS:
            kept.append(b"".join(item.lines))  # a folded field stays folded
            if key in ("from", "to", "cc", "subject") and key not in values:
                values[key] = item.value
            if key in ("content-type", "content-disposition"):
                values[key] = item.value.lower()
            continue
        value = item.value
        try:
            if key == "x-pm-message-stream":
                stream = value or "outbound"
            elif key == "x-pm-tag":
                tag = _decoded(value)
            elif key == "x-pm-trackopens":
                track_opens = _bool_header(item.name, value)
            elif key == "x-pm-tracklinks":
                track_links = normalize_track_links(value)
            elif key == "x-pm-keepid":
                keep_id = _bool_header(item.name, value)
            elif key == "x-pm-bounce-type":
                bounce_type = _decoded(value).strip()
        except ApplicationError as exc:
            error = error or exc

    attachments: list[Attachment] = []
    if values.get("content-type", "").startswith("multipart/") or (
        "content-disposition" in values
    ):
        attachments = _attachments(data, defects)

    to = _address_header(values.get("to", ""))
    cc = _address_header(values.get("cc", ""))
    addressed = {a.lower() for _n, a in getaddresses([to, cc]) if a}
    bcc = [r for r in dict.fromkeys(envelope_recipients) if r.lower() not in addressed]
    raw = newline.join(kept) + newline + newline + body if fields else data
    email = OutboundEmail(
        from_header=_address_header(values.get("from", "")),
        to=to,
        cc=cc,
        bcc=", ".join(bcc),
        subject=_decoded(values.get("subject", "")),
        tag=tag,
        metadata=metadata,
        attachments=attachments,
        track_opens=track_opens,
        track_links=track_links,
        message_stream=stream,
        raw=raw,
        envelope_recipients=list(dict.fromkeys(envelope_recipients)),
        keep_message_id=keep_id,
        bounce_type=bounce_type,
    )
    return ParsedSubmission(
        email=email, defects=list(dict.fromkeys(defects)), error=error
    )


@dataclass(frozen=True)
class Submission:
    """One SMTP transaction as the edge received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes


def submit(
    *, server: Server, mail_from: str, rcpt_tos: list[str], data: bytes
) -> Reply:
    """Accept one SMTP transaction for ``server`` and return the final reply.

    ``250`` comes back only once the message (or its SMTPApiError record) is
    committed; the text carries the MessageID. Business errors in the message
    are recorded as SMTPApiError bounces and still answered ``250`` (Postmark's
    model: the client's queue should not retry a message that can never be
    sent). Infrastructure failures propagate as exceptions: the edge answers
    ``451`` and nothing half-done is visible. Not idempotent: every call is a new
    message.
    """
    return submit_batch(
        server=server,
        submissions=[Submission(mail_from=mail_from, rcpt_tos=rcpt_tos, data=data)],
    )[0]


def submit_batch(*, server: Server, submissions: list[Submission]) -> list[Reply]:
    """``submit`` for several transactions of one server at once (group commit).

    The valid messages are committed in one transaction through
    ``message_send_batch`` (one stream and domain lookup, one delivery task);
    the replies come back in order. Same guarantees as ``submit``; if the
    commit fails, the exception fails every message of the batch (the edge
    answers ``451`` to each, nothing is stored).
    """
    parsed = [
        parse_submission(data=item.data, envelope_recipients=item.rcpt_tos)
        for item in submissions
    ]
    emails: list[OutboundEmail | ApplicationError] = [
        p.error if p.error is not None else p.email for p in parsed
    ]
    results = message_send_batch(
        server=server, emails=emails, context=_send_context(server)
    )
    replies = []
    for item, result in zip(parsed, results, strict=True):
        # The valid messages are committed by now: a failure while recording
        # one item's SMTPApiError must not turn the others' 250 into a 451
        # (their clients would retry and duplicate them).
        if isinstance(result, ApplicationError):
            try:
                reply = _record_rejection(server=server, parsed=item, error=result)
            except (DatabaseError, OSError):
                log.exception("could not record an SMTPApiError; answering 451")
                reply = TEMPORARY_FAILURE
        else:
            try:
                reply = _accepted(server=server, parsed=item, result=result)
            except (DatabaseError, OSError):
                log.exception(
                    "message %s stored; its SMTPApiError records failed",
                    result.message_id,
                )
                reply = Reply(250, "2.0.0", f"OK: queued as {result.message_id}")
        replies.append(reply)
    return replies


_local = threading.local()


def _send_context(server: Server) -> SendContext:
    """This thread's stream/domain lookups for ``server``, at most
    ``SMTPD_LOOKUP_CACHE_SECONDS`` old (0 disables the reuse)."""
    ttl = settings.SMTPD_LOOKUP_CACHE_SECONDS
    contexts: dict[int, tuple[float, SendContext]] = _local.__dict__.setdefault(
        "contexts", {}
    )
    now = time.monotonic()
    cached = contexts.get(server.id)
    if cached is not None and now - cached[0] < ttl:
        return cached[1]
    context = SendContext(server)
    if len(contexts) > 1000:
        contexts.clear()
    contexts[server.id] = (now, context)
    return context


def _accepted(*, server: Server, parsed: ParsedSubmission, result: SendResult) -> Reply:
    note = f" (MIME defects: {', '.join(parsed.defects)})" if parsed.defects else ""
    if parsed.defects:
        log.info("message %s stored raw with defects: %s", result.message_id, note)
    if not result.inactive:
        return Reply(250, "2.0.0", f"OK: queued as {result.message_id}{note}")
    # message_send already recorded an SMTPApiError bounce per inactive
    # recipient (messages.services._after_store); the reply only names them.
    return Reply(
        250,
        "2.0.0",
        f"OK: queued as {result.message_id}; not delivered to inactive "
        f"recipients: {', '.join(result.inactive)}{note}",
    )


def _record_rejection(
    *, server: Server, parsed: ParsedSubmission, error: ApplicationError
) -> Reply:
    """Record an SMTPApiError bounce per envelope recipient, sharing one archived
    copy of the raw submission (the bounce dump), and answer 250."""
    email = parsed.email
    # The refused message's own fields are what made it invalid: NUL bytes, lone
    # surrogates from undecodable 8-bit headers, or values longer than the
    # columns would fail the insert and turn a permanent refusal into a 451 the
    # client retries forever. They are stored cleaned; the raw dump keeps them.
    details = _storable(f"ErrorCode {error.code}: {error.message}")
    bounces = smtp_api_error_record(
        server=server,
        emails=[_storable(e, 254) for e in email.envelope_recipients or []],
        error=details,
        message_stream=_storable(email.message_stream or "outbound", 30).lower(),
        raw_submission=email.raw or b"",
        from_header=_storable(email.from_header or "", 512),
        subject=_storable(email.subject or "", 2000),
        tag=_storable(email.tag or "", 1000),
    )
    ids = [str(bounce.id) for bounce in bounces]
    log.info("SMTP submission refused (%s), SMTPApiError bounces %s", details, ids)
    return Reply(
        250,
        "2.0.0",
        f"Accepted but not sent: {_one_line(details)} "
        f"(SMTPApiError bounce ID {', '.join(ids)})",
    )


def _storable(text: str, limit: int | None = None) -> str:
    """``text`` as PostgreSQL can store it: valid UTF-8 without NUL, at most
    ``limit`` characters."""
    if not isinstance(text, str):
        text = str(text)
    text = text.replace("\x00", "\ufffd")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit] if limit is not None else text


def _echo(address: str) -> str:
    """A client's address as a reply may quote it: control characters (a CR or
    LF would forge a reply line) become spaces, and it is cut at 256."""
    return "".join(ch if ch.isprintable() else " " for ch in address)[:256]


def _one_line(text: str) -> str:
    # Reply text: one line of printable characters (RFC 5321 §4.2).
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(cleaned.split())[:400]
