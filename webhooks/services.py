"""Writes for tenant webhooks (Postmark's Delivery/Bounce/SpamComplaint hooks)."""

from __future__ import annotations

from typing import Any

from accounts.models import Server


def webhook_emit(
    *, server: Server, message_stream: str, record_type: str, payload: dict[str, Any]
) -> None:
    """Queue ``payload`` (Postmark's JSON for ``record_type``) for every webhook of
    the stream whose trigger is enabled. Call inside the transaction that records
    the event: outbox rows commit with it and are sent after commit.
    The bounces issue fills this in."""
    return None
