"""Writes for inbound mail: receive at the MX, POST to the InboundHookUrl with
Postmark's retry schedule, bypass and retry, inbound rules.

Lifecycle of an ``InboundMessage`` (statuses are Postmark's):

    received ─┬─ blocked (spam threshold / inbound rule) ── bypass ──┐
              ├─ processed (no InboundHookUrl)                       │
              └─ queued ◄────────────────────────────────────────────┘
                   │ POST: 200 → processed
                   │       403 → failed
                   │       other → scheduled (+1, 5, 10, 10, 10, 15, 30 min,
                   │               1, 2, 6 h), then failed
    failed ── retry ──► queued

``failed`` also records an ``InboundError`` bounce (TypeCode 100008).
"""

from .hook import (
    inbound_deliver_attempt,
    inbound_deliveries_enqueue_due,
    inbound_hook_request,
)
from .receive import Received, inbound_rcpt_verdict, inbound_receive
from .requeue import inbound_bypass, inbound_retry
from .retention import inbound_purge
from .rules import inbound_rule_create, inbound_rule_delete

__all__ = [
    "Received",
    "inbound_bypass",
    "inbound_deliver_attempt",
    "inbound_deliveries_enqueue_due",
    "inbound_hook_request",
    "inbound_purge",
    "inbound_rcpt_verdict",
    "inbound_receive",
    "inbound_retry",
    "inbound_rule_create",
    "inbound_rule_delete",
]
