"""Bypass (blocked → queued) and retry (failed → queued)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Server
from postmark_clone.errors import ApplicationError

from ..models import InboundMessage
from ..selectors import inbound_get
from .common import NO_HOOK, Status


def _requeue(
    *, server: Server, message_id: str, from_status: str, code: int
) -> InboundMessage:
    from ..tasks import inbound_deliver  # tasks import services; avoid a cycle

    message = inbound_get(server=server, message_id=message_id)
    if message is None:
        raise ApplicationError(701, "This message was not found.")
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": Status.QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "failed_at": None,
    }
    if not server.inbound_hook_url:
        fields.update(
            status=Status.PROCESSED,
            next_attempt_at=None,
            processed_at=now,
            hook_response=NO_HOOK,
        )
    with transaction.atomic():
        updated = InboundMessage.objects.filter(
            id=message.id, status=from_status
        ).update(**fields)
        if not updated:
            verb = "bypassed" if from_status == Status.BLOCKED else "retried"
            raise ApplicationError(
                code,
                f"Only {from_status.lower()} messages can be {verb}; this one is "
                f"{message.status.lower()}.",
            )
        if fields["status"] == Status.QUEUED:
            inbound_deliver.delay_on_commit(message.id)
    message.refresh_from_db()
    return message


def inbound_bypass(*, server: Server, message_id: str) -> InboundMessage:
    """Let a blocked message through its server's rules: queue its hook POST
    (processed at once when there is no InboundHookUrl). 701 unknown, 702 not
    blocked. Safe to call twice: the second call gets 702."""
    return _requeue(
        server=server, message_id=message_id, from_status=Status.BLOCKED, code=702
    )


def inbound_retry(*, server: Server, message_id: str) -> InboundMessage:
    """Post a failed message to the hook again with a fresh retry schedule.
    701 unknown, 703 not failed. Safe to call twice: the second call gets 703."""
    return _requeue(
        server=server, message_id=message_id, from_status=Status.FAILED, code=703
    )
