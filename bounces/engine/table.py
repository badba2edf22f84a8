"""The reason vocabulary and what each reason means for Postmark and for the
address: ONE table, used by every path (``parse_bounce``, the bounce MX, the
pool webhook, synchronous rejections during delivery).

The reasons, Postmark types and suppression flags are fixed by
``tests/fixtures/bounces/corpus/README.md``; ``docs/bounces.md`` repeats them.
Only permanent address failures and complaints suppress: blocklist, policy,
content, sender-side and transient reasons never do, the address may be fine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    name: str
    type: str  # Postmark bounce type
    suppress: bool  # makes the address inactive on the stream
    meaning: str


_ROWS = [
    (
        "user_unknown",
        "HardBounce",
        True,
        "no such mailbox/user at a domain that exists",
    ),
    ("has_moved", "HardBounce", True, "the mailbox has moved away (5.1.6)"),
    ("host_unknown", "HardBounce", True, "the domain does not exist / has no host"),
    ("not_accept", "HardBounce", True, "the domain accepts no mail (null MX)"),
    ("bad_address", "BadEmailAddress", True, "address syntax invalid (5.1.3)"),
    ("complaint", "SpamComplaint", True, "ARF / feedback-loop spam complaint"),
    ("mailbox_full", "SoftBounce", False, "over quota"),
    ("suspended", "SoftBounce", False, "mailbox disabled, inactive, suspended"),
    ("exceed_limit", "SoftBounce", False, "exceeds the recipient's size/other limit"),
    ("message_too_big", "SoftBounce", False, "larger than the server accepts"),
    ("expired", "SoftBounce", False, "gave up after retrying"),
    ("system_error", "SoftBounce", False, "remote system problem, loop, disk full"),
    ("network_error", "DnsError", False, "DNS lookup failure, connection/routing"),
    ("delayed", "Transient", False, "still trying (Action: delayed)"),
    ("blocked", "Blocked", False, "our IP/domain blocklisted, reputation, PTR, rate"),
    ("rejected", "Blocked", False, "the sender address/domain is refused"),
    ("filtered", "Blocked", False, "refused by the recipient's own filter"),
    ("policy_violation", "Blocked", False, "refused by local policy / not compliant"),
    ("no_relaying", "Blocked", False, "relaying denied"),
    ("security_error", "Blocked", False, "TLS required, authentication trouble"),
    ("auth_failure", "DMARCPolicy", False, "SPF / DKIM / DMARC failure"),
    ("spam_detected", "SpamNotification", False, "rejected as spam / for content"),
    ("virus_detected", "VirusNotification", False, "rejected for a virus"),
    ("auto_reply", "AutoResponder", False, "out of office, vacation, auto-responder"),
    ("challenge", "ChallengeVerification", False, "challenge-response verification"),
    ("address_change", "AddressChange", False, "notice of a new address"),
    ("syntax_error", "Unknown", False, "SMTP protocol error not about the address"),
    ("undefined", "Unknown", False, "a failure whose reason cannot be told"),
]

REASONS: dict[str, Reason] = {
    name: Reason(name, bounce_type, suppress, meaning)
    for name, bounce_type, suppress, meaning in _ROWS
}

# Postmark types that make an address inactive (derived from the table).
SUPPRESSING_TYPES = frozenset(r.type for r in REASONS.values() if r.suppress)


def reason_info(name: str) -> Reason:
    """The table row of ``name`` (``undefined`` for anything unknown)."""
    return REASONS.get(name) or REASONS["undefined"]


# Postmark's numeric TypeCode of every bounce type (postmark-api.md §4).
TYPE_CODES: dict[str, int] = {
    "HardBounce": 1,
    "Transient": 2,
    "Unsubscribe": 16,
    "Subscribe": 32,
    "AutoResponder": 64,
    "AddressChange": 128,
    "DnsError": 256,
    "SpamNotification": 512,
    "OpenRelayTest": 1024,
    "Unknown": 2048,
    "SoftBounce": 4096,
    "VirusNotification": 8192,
    "ChallengeVerification": 16384,
    "BadEmailAddress": 100000,
    "SpamComplaint": 100001,
    "ManuallyDeactivated": 100002,
    "Unconfirmed": 100003,
    "Blocked": 100006,
    "SMTPApiError": 100007,
    "InboundError": 100008,
    "DMARCPolicy": 100009,
    "TemplateRenderingFailed": 100010,
}
