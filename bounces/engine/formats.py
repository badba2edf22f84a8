"""Recognisers for bounce bodies that are not (only) RFC 3464: which MTA or
provider wrote a report, and who failed with what words in a plain-text body.

Plain-text bounces share a shape, whatever the MTA: a human-readable error
section naming each failed address followed by the remote server's words, then
a copy (or the headers) of the returned message. ``plain_failures`` cuts the
error section at the copy, finds the failed addresses by the shapes MTAs use
(qmail's ``<addr>:``, Exim's indented address, Sendmail's ``<addr>... reason``,
Exchange's ``addr on <date>``/``#550 5.1.1 …##``, Domino's "was not delivered
to:", "RCPT TO:" transcripts, ``addr: reason`` lines, or a bare address on its
own line) and gives each one the text up to the next failed address as its
diagnostic. Addresses of the sender, the daemon and message ids are never taken
for recipients. Pure; every regular expression is bounded.
"""

from __future__ import annotations

import re

ADDRESS = (
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]{1,64}@"
    r"[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8}"
)
ADDRESS_RE = re.compile(r"(?<![A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-])" + ADDRESS)

# Which software wrote the report: (name, pattern over headers + the first
# part of the text). First match wins; the specific before the generic.
_SIGNATURES: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern, re.I | re.M))
    for name, pattern in [
        ("Amazon SES", r"amazonses\.com|\bSES\b.{0,40}notification|notificationType"),
        ("SendGrid", r"sendgrid"),
        ("Gmail", r"google\.com|googlemail|gmail|\bgsmtp\b"),
        ("Yahoo", r"yahoo|\byahoo(mail)?\b|aol\.com"),
        ("Office 365", r"protection\.outlook|office ?365|exchangelabs"),
        ("Exchange", r"exchange|#\d\d\d \d\.\d"),
        ("Outlook.com", r"hotmail|outlook\.com|live\.com|msn\.com"),
        ("Lotus Domino", r"domino|lotus notes"),
        ("qmail", r"qmail"),
        ("Postfix", r"postfix"),
        ("Exim", r"\bexim\b|following address(?:\(es\))? failed|eximdsn"),
        ("Sendmail", r"sendmail|transcript of session follows"),
        ("Courier", r"courier"),
        ("OpenSMTPD", r"opensmtpd|mailer daemon <mailer-daemon"),
        ("GroupWise", r"groupwise|novell"),
        ("Mimecast", r"mimecast"),
        ("Barracuda", r"barracuda"),
        ("MessageLabs", r"messagelabs|symantec"),
        ("Trend Micro", r"interscan|trend ?micro"),
        ("McAfee", r"mcafee|mxlogic"),
        ("Zoho", r"zoho"),
        ("Yandex", r"yandex"),
        ("Mail.Ru", r"mail\.ru"),
        ("GMX", r"\bgmx\b"),
        ("Apple iCloud", r"icloud|me\.com"),
        ("Amazon WorkMail", r"workmail"),
        ("PowerMTA", r"powermta|pmta"),
        ("MDaemon", r"mdaemon"),
        ("Kerio", r"kerio"),
        ("IMail", r"\bimail\b"),
        ("Notes", r"notes"),
    ]
]


def detect_mta(haystack: str, fallback: str = "") -> str:
    for name, pattern in _SIGNATURES:
        if pattern.search(haystack):
            return name
    return fallback


# Where the copy of the returned message starts (end of the error section).
_COPY_RE = re.compile(
    r"^[ \t>]*(?:(?:-{2,}|={2,}|\*{2,})[ \t]*)?(?:"
    r"this is a copy of|below this line is a copy|original message|"
    r"returned message|the (?:original )?message (?:headers|header) (?:follow|was)|"
    r"(?:the )?header(?:s)? of (?:the )?original|"
    r"message headers follow|undelivered message|unsent message|"
    r"a copy of the (?:original )?message|copy of (?:the )?(?:original )?message|"
    r"included is a copy|returned mail follows|original mail as follows|"
    r"the text you sent follows|rfc822 headers|original text"
    r")",
    re.I | re.M,
)
_HEADERS_START_RE = re.compile(
    r"^(?:Return-Path|Received|Message-ID|DKIM-Signature|X-Mailer|MIME-Version):",
    re.I | re.M,
)
# Lines never naming a failed recipient (the sender, ids, the envelope sender).
_NOT_RECIPIENT_LINE_RE = re.compile(
    r"^[ \t>]*(?:from|sender|reply-to|return-path|message-id|in-reply-to|references|"
    r"mail from|envelope-from|x-[a-z-]+|date|subject|smtp-id|mailfrom)\s*:.*$",
    re.I | re.M,
)
_DAEMON_RE = re.compile(
    r"^(?:mailer-daemon|mailer_daemon|noreply|no-reply|daemon|mail-daemon|bounces?)@",
    re.I,
)

# Shapes that name a failed recipient, most telling first. The strong ones are
# believed even for an address the bounce is also sent to (a sender mailing
# itself); the weak ones are not.
_STRONG = [
    re.compile(r"^[ \t]*<(" + ADDRESS + r")>:[ \t]*$", re.M),  # qmail
    re.compile(
        r"^[ \t]*(?:RCPT TO|Original-Recipient|Final-Recipient|"
        r"Recipient address|Failed recipient|Invalid recipient)"
        r"[ \t]*:[ \t]*(?:rfc822;[ \t]*)?<?(" + ADDRESS + r")>?",
        re.I | re.M,
    ),
    re.compile(r"<(" + ADDRESS + r")>\.\.\.", re.M),  # Sendmail "<a@b>... User unknown"
]
# "addr (expanded from: alias)": the alias is the address that was sent to.
_EXPANDED_RE = re.compile(r"\(expanded from:?[ \t]*<?(" + ADDRESS + r")>?\)", re.I)
_WEAK = [
    re.compile(r"^[ \t]*<(" + ADDRESS + r")>:?", re.M),  # Postfix "<a@b>: host x said"
    re.compile(
        r"^[ \t>*\"'-]*(" + ADDRESS + r")[\"']?[ \t]*(?:$|:|\(|on |<|\.\.\.)", re.M
    ),
    re.compile(
        r"^[ \t]*(?:Recipient|Recipients|Address|Addresses|Destinataire)"
        r"[ \t]*:[ \t]*<?(" + ADDRESS + r")>?",
        re.I | re.M,
    ),
]
# The remote server's answers in a Sendmail-style session transcript.
_TRANSCRIPT_LINE_RE = re.compile(r"^[ \t]*(<<<|>>>)[ \t]*([^\n]{0,300})$", re.M)
_RCPT_RE = re.compile(r"^RCPT TO:[ \t]*<?(" + ADDRESS + r")>?", re.I)


def transcript_for(address: str, text: str) -> str:
    """The remote server's error replies in a Sendmail-style session transcript
    (``>>> RCPT To:<a>`` / ``<<< 550 ...``) that concern ``address``: the replies
    to its own RCPT command, else those to commands naming no recipient (DATA,
    MAIL, the greeting)."""
    own: list[str] = []
    shared: list[str] = []
    current: str | None = None
    for match in _TRANSCRIPT_LINE_RE.finditer(text[:200_000]):
        direction, line = match.groups()
        if direction == ">>>":
            rcpt = _RCPT_RE.match(line)
            current = rcpt.group(1).lower() if rcpt else None
            continue
        if line[:1] not in ("4", "5"):
            continue
        if current is None:
            shared.append(line)
        elif current == address.lower():
            own.append(line)
    return " ".join(own or shared)


_TO_LINE_RE = re.compile(r"^[ \t>]*(?:to|cc)[ \t]*:.*$", re.I | re.M)


def error_section(text: str) -> str:
    """The part of a plain-text bounce before the copy of the returned message."""
    text = text[:200_000]
    end = len(text)
    copy = _COPY_RE.search(text, 20)
    if copy:
        end = copy.start()
    headers = _HEADERS_START_RE.search(text, 40)
    if headers and headers.start() < end:
        end = headers.start()
    return text[:end]


def plain_failures(
    text: str, *, exclude: set[str], prefer: list[str] | None = None
) -> list[tuple[str, str]]:
    """``[(address, diagnostic), ...]`` from a plain-text bounce, in order."""
    section = error_section(text)
    cleaned = _NOT_RECIPIENT_LINE_RE.sub(" ", section)
    positions: dict[str, int] = {}
    for pattern in _STRONG:
        for match in pattern.finditer(cleaned):
            _remember(positions, match.group(1), match.start(), set())
    if not positions:
        without_to = _TO_LINE_RE.sub(" ", cleaned)
        for pattern in _WEAK:
            for match in pattern.finditer(without_to):
                _remember(positions, match.group(1), match.start(), exclude)
        if not positions:
            for match in ADDRESS_RE.finditer(without_to):
                _remember(positions, match.group(0), match.start(), exclude)
        if not positions:
            for match in ADDRESS_RE.finditer(cleaned):
                _remember(positions, match.group(0), match.start(), exclude)
    for match in _EXPANDED_RE.finditer(cleaned):
        _remember(positions, match.group(1), match.start(), set())
    for address in prefer or []:
        address = address.lower()
        if address not in positions:
            found = cleaned.lower().find(address)
            positions[address] = found if found >= 0 else len(cleaned)
    ordered = sorted(positions.items(), key=lambda item: item[1])
    out = []
    for index, (address, start) in enumerate(ordered):
        stop = ordered[index + 1][1] if index + 1 < len(ordered) else len(cleaned)
        if stop - start < 40:  # several addresses in a row share the reason after
            stop = len(cleaned)
        diagnostic = cleaned[start:stop][:1500]
        if len(diagnostic.strip()) <= len(address) + 4:
            diagnostic = cleaned[:2000]
        transcript = transcript_for(address, section)
        if transcript:
            diagnostic = f"{transcript} {diagnostic}"
        out.append((address, diagnostic))
    return out


_PREFIX_RE = re.compile(r"^(?:smtp|rfc822|sip|mailto)[=:]", re.I)


def _remember(
    positions: dict[str, int], address: str, at: int, exclude: set[str]
) -> None:
    address = _PREFIX_RE.sub("", address.strip(".<>'\"`")).lower()
    if address in exclude or _DAEMON_RE.match(address) or address in positions:
        return
    positions[address] = at


def addresses_in(value: str) -> list[str]:
    return [a.strip(".").lower() for a in ADDRESS_RE.findall(value or "")]
