"""Classify one failure into a reason and Postmark bounce type (pure).

A thin front of ``bounces.engine``: every path (delivery's synchronous
rejections, the bounce MX, the pool webhook, ``parse_bounce``) calls this or
``bounces.engine.analyse``, which share one decision procedure and one reason
table. docs/bounces.md describes the rules.
"""

from __future__ import annotations

from . import dsn
from .engine import Verdict, enhanced_status, most_specific
from .engine import classify as _classify

__all__ = ["Verdict", "classify", "classify_recipient", "effective_status"]


def classify(
    *,
    status: str = "",
    diagnostic: str = "",
    action: str = "",
    kind: str = "",
    smtp_code: int | None = None,
    hint: str = "",
) -> Verdict:
    """Classify one failed recipient (``Verdict.type`` is the Postmark type,
    ``.reason`` the reason, ``.suppress`` whether the address goes inactive).

    ``status`` is the DSN ``Status`` or the SMTP reply code, ``diagnostic`` the
    ``Diagnostic-Code`` text or the remote SMTP reply, ``action`` the DSN
    ``Action``, ``kind`` a ``bounces.dsn.KIND_*`` value and ``smtp_code`` the
    reply code of a synchronous rejection. Pure and total."""
    if status.isdigit() and len(status) == 3 and smtp_code is None:
        smtp_code, status = int(status), ""
    return _classify(
        status=status,
        diagnostic=diagnostic,
        action=action,
        kind=kind,
        smtp_code=smtp_code,
        hint=hint,
    )


def classify_recipient(
    recipient: dsn.ReportRecipient, *, kind: str, subject: str = ""
) -> Verdict:
    """``classify`` for one recipient block of a parsed report."""
    return _classify(
        status=recipient.status,
        diagnostic=recipient.diagnostic,
        action=recipient.action,
        kind=kind,
        subject=subject,
    )


def effective_status(status: str, diagnostic: str) -> str:
    """The more specific of the DSN ``Status`` and the code in the diagnostic."""
    return most_specific(status, enhanced_status(diagnostic))
