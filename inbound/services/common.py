"""Shared by the inbound services."""

from __future__ import annotations

from ..models import InboundMessage

Status = InboundMessage.Status
PENDING = (Status.QUEUED, Status.SCHEDULED)
# How much of the hook's answer is kept on the row.
RESPONSE_LIMIT = 2000
NO_HOOK = "No InboundHookUrl is set: nothing was posted."
