"""Provider event JSON: Amazon SES notifications (direct or wrapped in an SNS
envelope) and SendGrid event webhooks, read into one neutral shape.

Pure: no ORM. ``bounces.reports`` maps the items to messages; ``bounces.dsn``
uses the same reader for SES notifications that arrive by e-mail (an SNS
e-mail subscription). The reason is decided later by the one classifier
(``bounces.engine.decide``) from the provider's status and text, with the
provider's own category only as a hint where its text says nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class FeedItem:
    email: str
    source: str  # "Amazon SES" | "SendGrid"
    kind: str = "bounce"  # bounce | complaint | delayed
    action: str = "failed"
    status: str = ""
    diagnostic: str = ""
    message_id: str = ""  # our X-PM-Message-Id when the provider kept it
    verp: str = ""  # the envelope sender the message was relayed with
    hint: str = ""  # a reason the provider's category implies ("" = none)
    permanent: bool = False


# SES bounceType/bounceSubType → reason, used when the diagnostic says nothing.
SES_HINTS: dict[tuple[str, str], str] = {
    ("Permanent", "General"): "user_unknown",  # SES: "remove the address"
    ("Permanent", "NoEmail"): "user_unknown",
    ("Permanent", "Suppressed"): "user_unknown",
    ("Permanent", "OnAccountSuppressionList"): "user_unknown",
    ("Transient", "General"): "undefined",
    ("Transient", "MailboxFull"): "mailbox_full",
    ("Transient", "MessageTooLarge"): "message_too_big",
    ("Transient", "ContentRejected"): "spam_detected",
    ("Transient", "AttachmentRejected"): "policy_violation",
    ("Undetermined", "Undetermined"): "undefined",
}


def is_sns_envelope(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("Type") in (
        "Notification",
        "SubscriptionConfirmation",
        "UnsubscribeConfirmation",
    )


def is_sendgrid_events(payload: Any) -> bool:
    items = payload if isinstance(payload, list) else [payload]
    return bool(items) and all(
        isinstance(i, dict) and "event" in i and "email" in i for i in items
    )


def json_failures(text: str) -> list[FeedItem]:
    """Items from a JSON text (SNS envelope, bare SES notification or SendGrid
    events); ``[]`` for anything else, never an exception."""
    try:
        payload = json.loads(text[:2_000_000], strict=False)
    except ValueError:
        try:
            payload, _end = json.JSONDecoder(strict=False).raw_decode(text[:2_000_000])
        except ValueError:
            return []
    try:
        if is_sns_envelope(payload):
            return ses_items(payload)
        if isinstance(payload, dict) and (
            payload.get("notificationType") or payload.get("eventType")
        ):
            return ses_notification_items(payload)
        if is_sendgrid_events(payload):
            return sendgrid_items(payload)
    except (AttributeError, TypeError, ValueError):
        return []
    return []


def ses_items(envelope: dict[str, Any]) -> list[FeedItem]:
    """An SNS envelope: only ``Notification`` carries a bounce."""
    if envelope.get("Type") != "Notification":
        return []
    inner = json.loads(envelope.get("Message") or "", strict=False)
    if not isinstance(inner, dict):
        raise ValueError("SNS 'Message' is not SES JSON.")
    return ses_notification_items(inner)


def ses_notification_items(inner: dict[str, Any]) -> list[FeedItem]:
    kind = inner.get("notificationType") or inner.get("eventType")
    mail = inner.get("mail") or {}
    headers = {
        str(h.get("name", "")).lower(): str(h.get("value", ""))
        for h in mail.get("headers") or []
        if isinstance(h, dict)
    }
    message_id = headers.get("x-pm-message-id", "")
    verp = str(mail.get("source") or "")
    if kind == "Bounce":
        bounce = inner.get("bounce") or {}
        bounce_type = str(bounce.get("bounceType", ""))
        sub_type = str(bounce.get("bounceSubType", ""))
        return [
            FeedItem(
                email=str(r.get("emailAddress", "")),
                source="Amazon SES",
                action=str(r.get("action") or "failed").lower(),
                status=str(r.get("status") or ""),
                diagnostic=str(r.get("diagnosticCode") or ""),
                message_id=message_id,
                verp=verp,
                hint=SES_HINTS.get((bounce_type, sub_type), ""),
                permanent=bounce_type == "Permanent",
            )
            for r in bounce.get("bouncedRecipients") or []
            if isinstance(r, dict)
        ]
    if kind == "Complaint":
        complaint = inner.get("complaint") or {}
        if complaint.get("complaintSubType") == "OnAccountSuppressionList":
            return []  # SES refused to send: not a complaint about our mail
        feedback = complaint.get("complaintFeedbackType") or "abuse"
        return [
            FeedItem(
                email=str(r.get("emailAddress", "")),
                source="Amazon SES",
                kind="complaint",
                action="complained",
                diagnostic=f"Feedback-Type: {feedback}",
                message_id=message_id,
                verp=verp,
                hint="complaint",
            )
            for r in complaint.get("complainedRecipients") or []
            if isinstance(r, dict)
        ]
    if kind == "DeliveryDelay":
        delay = inner.get("deliveryDelay") or {}
        return [
            FeedItem(
                email=str(r.get("emailAddress", "")),
                source="Amazon SES",
                kind="delayed",
                action="delayed",
                status=str(r.get("status") or ""),
                diagnostic=str(r.get("diagnosticCode") or ""),
                message_id=message_id,
                verp=verp,
                hint="delayed",
            )
            for r in delay.get("delayedRecipients") or []
            if isinstance(r, dict)
        ]
    return []  # Delivery, Send, Open ... : nothing to record


# SendGrid events that report a failure, and what their category implies.
_SENDGRID_EVENTS = {"bounce", "blocked", "deferred", "spamreport", "dropped"}


def sendgrid_items(payload: Any) -> list[FeedItem]:
    """SendGrid Event Webhook objects (``event``: bounce with ``type`` bounce or
    blocked, deferred, spamreport; ``dropped`` only when SendGrid says the
    address bounced before). Our MessageID travels as the custom argument
    ``MessageID`` (SendGrid flattens custom args into the event)."""
    out = []
    for item in payload if isinstance(payload, list) else [payload]:
        event = str(item.get("event", "")).lower()
        if event not in _SENDGRID_EVENTS:
            continue
        reason_text = str(item.get("reason") or item.get("response") or "")
        status = str(item.get("status") or "")
        common = {
            "email": str(item.get("email", "")),
            "source": "SendGrid",
            "message_id": str(item.get("MessageID") or item.get("pm_message_id") or ""),
            "verp": str(item.get("VERP") or ""),
        }
        if event == "spamreport":
            out.append(
                FeedItem(
                    **common,
                    kind="complaint",
                    action="complained",
                    diagnostic="Feedback-Type: abuse",
                    hint="complaint",
                )
            )
        elif event == "deferred":
            out.append(
                FeedItem(
                    **common,
                    kind="delayed",
                    action="delayed",
                    status=status,
                    diagnostic=reason_text,
                    hint="delayed",
                )
            )
        elif event == "dropped":
            if "bounced address" in reason_text.lower():
                out.append(
                    FeedItem(
                        **common, status=status, diagnostic=reason_text, hint="filtered"
                    )
                )
        else:
            blocked = (
                str(item.get("type", "")).lower() == "blocked" or event == "blocked"
            )
            out.append(
                FeedItem(
                    **common,
                    status=status,
                    diagnostic=reason_text,
                    hint="blocked" if blocked else "",
                    permanent=status.startswith("5"),
                )
            )
    return out
