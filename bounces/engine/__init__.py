"""The bounce reason engine: one classifier for every way a failure arrives.

- ``analyse(raw)``: a raw report (DSN, plain-text bounce of any MTA, ARF
  complaint, auto-reply, SES notification by mail) → an ``Analysis`` with one
  ``Verdict`` per failed recipient, or ``bounce=False`` and why.
- ``classify(status=, diagnostic=, ...)``: one failure's words and codes →
  ``Verdict`` (used by the pool webhook, SES/SendGrid JSON and synchronous SMTP
  rejections during delivery).

Both end in ``decide.decide`` and the reason table (``table.REASONS``), so the
same failure text gets the same verdict on every path. Pure: no ORM, no I/O;
never raises on hostile input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .decide import Decision, decide, enhanced_status, most_specific
from .table import REASONS, SUPPRESSING_TYPES, TYPE_CODES, reason_info

__all__ = [
    "REASONS",
    "SUPPRESSING_TYPES",
    "TYPE_CODES",
    "Analysis",
    "Failure",
    "Verdict",
    "analyse",
    "classify",
    "decide",
    "enhanced_status",
    "most_specific",
]


@dataclass(frozen=True)
class Verdict:
    reason: str
    type: str
    type_code: int
    suppress: bool
    rule: str  # which evidence decided (for tests and operators)
    status: str = ""  # the RFC 3463 status used


def verdict_for(decision: Decision) -> Verdict:
    info = reason_info(decision.reason)
    return Verdict(
        reason=info.name,
        type=info.type,
        type_code=TYPE_CODES[info.type],
        suppress=info.suppress,
        rule=decision.rule,
        status=decision.status,
    )


def classify(
    *,
    status: str = "",
    diagnostic: str = "",
    action: str = "",
    kind: str = "",
    smtp_code: int | None = None,
    subject: str = "",
    hint: str = "",
) -> Verdict:
    """Classify one failure. ``hint``: a reason a provider's own category implies
    (SES ``MailboxFull``, SendGrid ``blocked``), used only when the status and
    words decide nothing."""
    decision = decide(
        status=status,
        diagnostic=diagnostic,
        action=action,
        kind=kind,
        smtp_code=smtp_code,
        subject=subject,
    )
    if hint in REASONS and decision.reason in ("undefined", "syntax_error"):
        decision = Decision(hint, f"provider:{hint}", decision.status)
    return verdict_for(decision)


@dataclass
class Failure:
    email: str
    verdict: Verdict
    status: str
    diagnostic: str
    action: str


@dataclass
class Analysis:
    bounce: bool
    why: str = ""  # for bounce=False: why it is not one
    kind: str = ""
    mta: str = ""
    failures: list[Failure] = field(default_factory=list)
    message_id: str | None = None  # our X-PM-Message-Id, else the returned Message-ID
    subject: str = ""

    def as_json(self) -> dict[str, object]:
        """What ``parse_bounce`` prints (Postmark-style field names)."""
        if not self.bounce:
            return {
                "Bounce": False,
                "Why": self.why,
                "Kind": self.kind,
                "MTA": self.mta or None,
                "MessageID": self.message_id,
            }
        first = self.failures[0]
        return {
            "Bounce": True,
            "Email": first.email,
            "Recipients": [f.email for f in self.failures],
            "Reason": first.verdict.reason,
            "Type": first.verdict.type,
            "TypeCode": first.verdict.type_code,
            "Suppress": first.verdict.suppress,
            "Status": first.verdict.status or first.status,
            "Diagnostic": first.diagnostic,
            "Kind": self.kind,
            "MTA": self.mta or None,
            "MessageID": self.message_id,
        }


_SUCCESS = ("delivered", "relayed", "expanded")


def analyse(raw: bytes) -> Analysis:
    """The verdict on one raw report. Never raises."""
    from .. import dsn

    report = dsn.parse_report(raw)
    message_id = report.pm_message_id or report.original_message_id or None
    base = {
        "kind": report.kind,
        "mta": report.mta,
        "message_id": message_id,
        "subject": report.subject,
    }
    if report.kind == dsn.KIND_UNKNOWN:
        return Analysis(
            bounce=False, why="not a bounce, complaint or auto-reply", **base
        )
    if not_a_complaint(report):
        return Analysis(bounce=False, why=not_a_complaint(report), **base)
    failures = []
    for block in report.recipients:
        if block.action.lower() in _SUCCESS:
            continue
        verdict = classify_block(block, report)
        failures.append(
            Failure(
                email=block.email,
                verdict=verdict,
                status=block.status,
                diagnostic=block.diagnostic,
                action=block.action,
            )
        )
    if not failures:
        why = (
            "delivery confirmation (every recipient delivered/relayed/expanded)"
            if report.recipients
            else "no failed recipient found"
        )
        return Analysis(bounce=False, why=why, **base)
    return Analysis(bounce=True, failures=failures, **base)


def classify_block(block, report) -> Verdict:
    """``classify`` for one recipient block of a ``bounces.dsn.ParsedReport``."""
    diagnostic = block.diagnostic
    if report.kind == "arf":
        diagnostic = report.feedback_type or diagnostic
    verdict = classify(
        status=block.status,
        diagnostic=diagnostic,
        action=block.action,
        kind=report.kind,
        subject=report.subject,
    )
    context = getattr(block, "context", "")
    if verdict.reason == "undefined" and context and report.kind != "arf":
        wider = classify(
            status=block.status,
            diagnostic=f"{diagnostic} {context}",
            action=block.action,
            kind=report.kind,
            subject=report.subject,
        )
        if wider.reason != "undefined":
            return Verdict(**{**wider.__dict__, "rule": f"context/{wider.rule}"})
    return verdict


# ARF feedback types that report on authentication, not a recipient's complaint
# (RFC 6591 DMARC failure reports use ``auth-failure``).
_NOT_COMPLAINTS = {"auth-failure", "dkim", "spf", "dmarc"}


def not_a_complaint(report) -> str:
    """Why an ARF report is not a spam complaint ("" when it is one)."""
    if report.kind == "arf" and report.feedback_type in _NOT_COMPLAINTS:
        return f"authentication failure report (Feedback-Type: {report.feedback_type})"
    return ""
