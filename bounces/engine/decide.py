"""From the evidence of one failed recipient to one reason (pure, total).

Evidence, strongest first:

1. what the report *is*: an ARF complaint, an auto-reply (then challenge or
   address-change notices are told apart by their words), a DSN with
   ``Action: delayed``;
2. the words of the remote server (``phrases.RULES``), unless they are only
   generic ("timed out", "system error", "policy") while the RFC 3463 status
   is specific (``5.1.1``, ``5.2.2``, ``5.3.4`` ...);
3. the RFC 3463 enhanced status (``STATUS_REASONS``, then its class and
   subject: ``5.7.X`` security/policy, ``5.4.X`` routing ...);
4. the bare SMTP reply code and the DSN action.

Nothing here raises; unknown input ends as ``undefined``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import phrases

_ENHANCED_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_SMTP_CODE_RE = re.compile(r"(?<![\d.])([245])(\d)(\d)(?=[\s\-]|$)")

# RFC 3463 / IANA enhanced status codes that name a reason on their own.
STATUS_REASONS: dict[str, str] = {
    "5.1.0": "user_unknown",
    "5.1.1": "user_unknown",
    "5.1.2": "host_unknown",
    "5.1.3": "bad_address",
    "5.1.4": "user_unknown",
    "5.1.6": "has_moved",
    "5.1.7": "rejected",
    "5.1.8": "rejected",
    "5.1.9": "system_error",
    "5.1.10": "not_accept",
    "5.2.0": "filtered",
    "5.2.1": "suspended",
    "5.2.2": "mailbox_full",
    "5.2.3": "exceed_limit",
    "5.2.4": "filtered",
    "5.3.0": "system_error",
    "5.3.1": "system_error",
    "5.3.2": "not_accept",
    "5.3.3": "system_error",
    "5.3.4": "message_too_big",
    "5.3.5": "system_error",
    "5.4.0": "network_error",
    "5.4.1": "network_error",
    "5.4.3": "system_error",
    "5.4.4": "host_unknown",
    "5.4.6": "system_error",
    "5.4.7": "expired",
    "5.5.3": "blocked",
    "5.5.4": "syntax_error",
    "5.5.5": "system_error",
    "5.5.6": "security_error",
    "5.6.0": "spam_detected",
    "5.7.0": "security_error",
    "5.7.1": "blocked",
    "5.7.2": "blocked",
    "5.7.13": "suspended",
    "5.7.16": "message_too_big",
    "5.7.17": "has_moved",
    "5.7.18": "has_moved",
    "5.7.20": "auth_failure",
    "5.7.21": "auth_failure",
    "5.7.22": "auth_failure",
    "5.7.23": "auth_failure",
    "5.7.24": "auth_failure",
    "5.7.25": "blocked",
    "5.7.26": "auth_failure",
    "5.7.27": "rejected",
    "4.1.6": "has_moved",
    "4.1.7": "rejected",
    "4.1.8": "rejected",
    "4.2.1": "suspended",
    "4.2.2": "mailbox_full",
    "4.2.3": "exceed_limit",
    "4.3.1": "system_error",
    "4.3.2": "not_accept",
    "4.3.5": "system_error",
    "4.4.1": "expired",
    "4.4.2": "network_error",
    "4.4.3": "network_error",
    "4.4.4": "network_error",
    "4.4.5": "blocked",
    "4.4.6": "system_error",
    "4.4.7": "expired",
    "4.7.1": "blocked",
    "4.7.24": "auth_failure",
    "4.7.26": "auth_failure",
}
# Subject-level fallbacks for permanent codes (X.<subject>.Y not listed above).
_SUBJECT_REASONS = {
    "1": "user_unknown",
    "2": "filtered",
    "3": "system_error",
    "4": "network_error",
    "5": "syntax_error",
    "6": "spam_detected",
    "7": "security_error",
}
# Text evidence that says little about the address: a specific status wins.
_GENERIC_TEXT = {
    "expired",
    "system_error",
    "syntax_error",
    "network_error",
    "host_unknown",
}
# Status reasons that are themselves generic: the text wins over them.
_GENERIC_STATUS = {"security_error", "system_error", "syntax_error", "network_error"}


@dataclass(frozen=True)
class Decision:
    reason: str
    rule: str  # which evidence decided, for tests and operators
    status: str  # the RFC 3463 status used ("" when none)


def enhanced_status(*texts: str) -> str:
    """The first RFC 3463 enhanced status code found in ``texts`` ("" if none)."""
    for text in texts:
        match = _ENHANCED_RE.search((text or "")[:4000])
        if match:
            return ".".join(match.groups())
    return ""


def smtp_reply_code(text: str) -> int | None:
    """The SMTP reply code a reply text starts with (or quotes early on)."""
    match = _SMTP_CODE_RE.search((text or "")[:300])
    return int("".join(match.groups())) if match else None


def most_specific(a: str, b: str) -> str:
    """The more specific of a DSN ``Status`` and the code in its diagnostic: a
    generic ``5.0.0`` next to ``550 5.1.1`` (Gmail) is less telling."""
    if not a:
        return b
    if not b:
        return a
    if a.endswith(".0.0") and not b.endswith(".0.0") and a[:1] == b[:1]:
        return b
    return a


def reply_kind(*, subject: str = "", text: str = "") -> str:
    """An automatic reply: ``challenge``, ``address_change`` or ``auto_reply``."""
    words = phrases.normalise(subject + " " + text, 3000)
    if phrases.CHALLENGE.search(words):
        return "challenge"
    if phrases.ADDRESS_CHANGE.search(phrases.normalise(text, 3000)):
        return "address_change"
    return "auto_reply"


def decide(
    *,
    status: str = "",
    diagnostic: str = "",
    action: str = "",
    kind: str = "",
    smtp_code: int | None = None,
    subject: str = "",
) -> Decision:
    """The reason for one failed recipient.

    ``status``: the DSN ``Status`` (may be empty or generic); ``diagnostic``:
    the ``Diagnostic-Code`` text or the remote SMTP reply; ``action``: the DSN
    ``Action``; ``kind``: a ``bounces.dsn.KIND_*`` value; ``smtp_code``: the
    reply code of a synchronous rejection; ``subject``: the report's subject,
    used only for auto-replies.
    """
    decision = _decide(
        status=status,
        diagnostic=diagnostic,
        action=action,
        kind=kind,
        smtp_code=smtp_code,
        subject=subject,
    )
    final = (action or "").strip().lower() == "failed"
    if (
        final
        and decision.status[:1] == "4"
        and decision.reason in _EXPIRE_WHEN_GIVEN_UP
        and (decision.reason != "undefined" or not decision.status.endswith(".0.0"))
    ):
        # A report that failed on a temporary reply: the sender gave up after
        # retrying (queue lifetime, retry timeout). The words say why it kept
        # failing, the verdict is that it expired.
        return Decision("expired", f"gave-up/{decision.rule}", decision.status)
    return decision


# Reasons that become ``expired`` when delivery was given up on a 4xx: the
# remote never refused for good. Words that name a block, a filter, a full
# mailbox or a dead domain keep their reason.
_EXPIRE_WHEN_GIVEN_UP = {
    "undefined",
    "network_error",
    "expired",
    "user_unknown",
    "has_moved",
    "bad_address",
    "syntax_error",
}


def _decide(
    *,
    status: str = "",
    diagnostic: str = "",
    action: str = "",
    kind: str = "",
    smtp_code: int | None = None,
    subject: str = "",
) -> Decision:
    text = phrases.normalise(diagnostic)
    status = most_specific(_clean_status(status), enhanced_status(text))
    action = (action or "").strip().lower()
    if kind == "arf":
        return Decision("complaint", "arf", status)
    if kind == "autoreply":
        return Decision(reply_kind(subject=subject, text=diagnostic), "auto-reply", "")
    if action == "delayed":
        if phrases.GAVE_UP.search(text):
            return Decision("expired", "delayed-but-expired", status)
        return Decision("delayed", "dsn-delayed", status)

    code = smtp_code or smtp_reply_code(text)
    klass = status[:1] or (str(code)[:1] if code else "")
    status_reason = STATUS_REASONS.get(status, "")
    text_reason = phrases.text_reason(text) if text else ""

    if text_reason and status_reason and status_reason != text_reason:
        if text_reason in _GENERIC_TEXT and status_reason not in _GENERIC_STATUS:
            return Decision(status_reason, "status-over-generic-text", status)
    if text_reason == "user_unknown" and phrases.AFTER_DATA.search(text):
        return Decision("filtered", "user-unknown-after-data", status)
    if text_reason:
        if klass == "4" and not action and text_reason in _TEMPORARY_MEANS_DELAYED:
            # A synchronous 4xx "user unknown" is temporary by definition.
            return Decision("delayed", "temporary-4xx", status)
        return Decision(text_reason, f"text:{text_reason}", status)
    if status_reason:
        if klass == "4" and not action and status_reason in _TEMPORARY_MEANS_DELAYED:
            return Decision("delayed", "temporary-4xx", status)
        return Decision(status_reason, f"status:{status}", status)
    parts = status.split(".")
    if klass == "5" and len(parts) == 3 and parts[1] != "0":
        return Decision(
            _SUBJECT_REASONS.get(parts[1], "undefined"), "status-class", status
        )
    if klass == "4":
        if action == "expired":
            return Decision("expired", "action-expired", status)
        if action == "failed":
            return Decision("undefined", "temporary-then-failed", status)
        return Decision("delayed", "temporary-4xx", status)
    if code == 552:
        return Decision("mailbox_full", "reply-552", status)
    return Decision("undefined", "undefined", status)


# Reasons a temporary (4xx) synchronous reply cannot mean for certain.
_PERMANENT_ONLY = {
    "user_unknown",
    "host_unknown",
    "has_moved",
    "bad_address",
    "not_accept",
}
# A synchronous 4xx (no DSN action: the sender will retry) with these reasons
# is simply a delay; mailbox-full, blocks and content refusals keep their reason.
_TEMPORARY_MEANS_DELAYED = _PERMANENT_ONLY | {
    "system_error",
    "network_error",
    "expired",
    "syntax_error",
    "undefined",
}


def _clean_status(value: str) -> str:
    match = _ENHANCED_RE.search(value or "")
    return ".".join(match.groups()) if match else ""
