"""Classify a failure into Postmark's bounce types (pure; no ORM, no I/O).

Inputs are what every path in has: the RFC 3463 enhanced status (``5.1.1``), the
SMTP reply or ``Diagnostic-Code`` text, the RFC 3464 ``Action``, and the report
kind from ``bounces.dsn``. The rules run top to bottom; the first match wins.
docs/bounces.md has the same table in prose, keep them in step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import dsn

_ENHANCED_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_CODE_RE = re.compile(r"(?<![\d.])([245])\d\d(?=[\s\-]|$)")


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns), re.I)


# Reputation and policy blocks by the receiver: our sending IP or domain is the
# problem, not the address, so these never deactivate the recipient.
BLOCKLIST_TEXT = _words(
    r"blocked using",
    r"spamhaus",
    r"spamcop",
    r"barracuda",
    r"\bsorbs\b",
    r"\bsurbl\b",
    r"\buribl\b",
    r"\bblack ?list(ed)?\b",
    r"\bblock ?list(ed)?\b",
    r"\bdenylist(ed)?\b",
    r"\brbl\b",
    r"\bdnsbl\b",
    r"listed (at|in|on) ",
    r"poor reputation",
    r"(ip|sender|domain) reputation",
    r"message rejected due to (local )?policy",
    r"has been (temporarily )?blocked",
    r"\bAS\(\d+\)",  # Microsoft's "[AS(1440)]"-style block codes
    r"access denied.*(banned|blocked)",
    r"likely unsolicited mail",
    r"\bspam\b.*\b(reject|blocked|detected)",
    r"5\.7\.1 .*(client host|sender address) .*rejected",
)
DMARC_TEXT = _words(r"\bdmarc\b")
VIRUS_TEXT = _words(r"\bvirus\b", r"\bmalware\b", r"infected")
DNS_TEXT = _words(
    r"host (or domain name )?not found",
    r"domain (name )?not found",
    r"name service error",
    r"\bnxdomain\b",
    r"no mx (record|host)",
    r"mx (lookup|record) (failed|not found)",
    r"unrouteable (mail )?(address|domain)",
    r"domain does not exist",
    r"no such domain",
    r"dns (error|failure|lookup)",
    r"unable to resolve",
    r"could not be resolved",
    r"temporary failure in name resolution",
)
MAILBOX_FULL_TEXT = _words(
    r"quota",
    r"mailbox (is )?full",
    r"mailbox (size|storage) limit",
    r"insufficient (system )?storage",
    r"out of (disk )?space",
    r"exceeded storage allocation",
    r"user has exceeded",
    r"not enough space",
    r"full mailbox",
)
USER_UNKNOWN_TEXT = _words(
    r"user (unknown|not found)",
    r"unknown (user|recipient|local[- ]part|address)",
    r"no such (user|mailbox|recipient|address)",
    r"(mailbox|recipient|address|user|account) (does not|doesn't) exist",
    r"(email )?account that you tried to reach does not exist",
    r"recipient ?not ?found",
    r"RESOLVER\.ADR\.RecipNotFound",
    r"mailbox (not found|unavailable)",
    r"invalid (recipient|mailbox|address)",
    r"recipient address rejected",
    r"address rejected",
    r"not a valid (recipient|mailbox)",
    r"no mailbox here",
    r"undeliverable address",
    r"addressee unknown",
    r"sorry, no mailbox",
    r"this user doesn't have a \S+ account",
    r"mailbox disabled for this recipient",
)
ACCOUNT_DISABLED_TEXT = _words(
    r"(account|mailbox) (is )?(disabled|inactive|suspended|locked|deactivated)",
    r"mailbox (is )?temporarily disabled",
)


@dataclass(frozen=True)
class Verdict:
    type: str
    rule: str  # short name of the rule that matched, for tests and operators


def enhanced_status(*texts: str) -> str:
    """The first RFC 3463 enhanced status code found in ``texts`` ("" if none)."""
    for text in texts:
        match = _ENHANCED_RE.search(text or "")
        if match:
            return ".".join(match.groups())
    return ""


def smtp_reply_class(text: str) -> str:
    """ "4" or "5" from an SMTP reply code at the start of a reply ("" if none)."""
    match = _SMTP_CODE_RE.search((text or "").strip()[:40])
    return match.group(1) if match else ""


def effective_status(status: str, diagnostic: str) -> str:
    """The more specific of the DSN ``Status`` and the code in the diagnostic."""
    return _most_specific(status, enhanced_status(diagnostic))


def classify(
    *,
    status: str = "",
    diagnostic: str = "",
    action: str = "",
    kind: str = "",
    smtp_code: int | None = None,
) -> Verdict:
    """Classify one failed recipient.

    ``status`` is the DSN ``Status`` (may be empty or generic like ``5.0.0``),
    ``diagnostic`` the ``Diagnostic-Code`` text or the remote SMTP reply,
    ``action`` the DSN ``Action``, ``kind`` a ``bounces.dsn.KIND_*`` value and
    ``smtp_code`` the reply code of a synchronous rejection. Pure and total.
    """
    # Reasons are short; bounding the text bounds the regex work on hostile input.
    text = (diagnostic or "")[:4000]
    # A DSN "Status: 5.0.0" next to "550 5.1.1 ..." in the diagnostic (Gmail) is
    # less specific than the diagnostic; prefer the one with a non-zero subject.
    status = _most_specific(status, enhanced_status(text))
    klass = (
        status[:1]
        or (str(smtp_code)[:1] if smtp_code else "")
        or smtp_reply_class(text)
    )
    subject = status.split(".")[1] if status.count(".") == 2 else ""

    if kind == dsn.KIND_ARF:
        return Verdict("SpamComplaint", "arf")
    if kind == dsn.KIND_AUTOREPLY:
        return Verdict("AutoResponder", "auto-reply")
    if action.lower() == "delayed":
        return Verdict("Transient", "dsn-delayed")
    if BLOCKLIST_TEXT.search(text):
        return Verdict("Blocked", "blocklist-text")
    if DMARC_TEXT.search(text):
        return Verdict("DMARCPolicy", "dmarc-text")
    if VIRUS_TEXT.search(text):
        return Verdict("VirusNotification", "virus-text")
    if status in ("5.1.2", "4.1.2", "5.4.4", "4.4.4", "4.4.3", "5.4.3") or (
        DNS_TEXT.search(text)
    ):
        return Verdict("DnsError", "dns")
    if status in ("5.2.2", "4.2.2") or MAILBOX_FULL_TEXT.search(text):
        return Verdict("SoftBounce", "mailbox-full")
    if klass == "4":
        return Verdict("Transient", "temporary-4xx")
    if status in ("5.1.1", "5.1.10", "5.1.0", "5.1.6"):
        return Verdict("HardBounce", "user-unknown")
    if klass == "5" and subject == "7":
        # RFC 3463 X.7.X: security or policy status, e.g. "Recipient address
        # rejected: Access denied" is a block, not an unknown user.
        return Verdict("Blocked", "policy-5.7.x")
    if USER_UNKNOWN_TEXT.search(text):
        return Verdict("HardBounce", "user-unknown-text")
    if status in ("5.1.3",):
        return Verdict("BadEmailAddress", "bad-address-syntax")
    if status in ("5.2.1",) or ACCOUNT_DISABLED_TEXT.search(text):
        return Verdict("SoftBounce", "mailbox-disabled")
    if klass == "5" and subject == "1":
        return Verdict("HardBounce", "address-5.1.x")
    if klass == "5" and subject == "2":
        return Verdict("SoftBounce", "mailbox-5.2.x")
    if klass == "5" and subject == "4":
        return Verdict("DnsError", "routing-5.4.x")
    return Verdict("Unknown", "unknown")


def classify_recipient(recipient: dsn.ReportRecipient, *, kind: str) -> Verdict:
    """``classify`` for one recipient block of a parsed report."""
    return classify(
        status=recipient.status,
        diagnostic=recipient.diagnostic,
        action=recipient.action,
        kind=kind,
    )


def _most_specific(a: str, b: str) -> str:
    if not a:
        return b
    if not b:
        return a
    if a.endswith(".0.0") and not b.endswith(".0.0") and a[:1] == b[:1]:
        return b
    return a
