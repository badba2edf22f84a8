"""The synchronous core of the MX for both kinds of mail it receives.

One listener serves the VERP return-path domains (bounces, complaints) and the
inbound domains (``<InboundHash>@INBOUND_ADDRESS_DOMAIN``, servers'
``InboundDomain``): each ``RCPT TO`` is routed by its domain, and DATA hands
each side its own recipients. Free of aiosmtpd types; the thin aiosmtpd edge
is ``bounces.bounce_mx``.
"""

from __future__ import annotations

from bounces.reports import bounce_mx_rcpt_verdict, bounce_mx_receive

from .services import inbound_rcpt_verdict, inbound_receive


def mx_rcpt_verdict(address: str) -> tuple[bool, str | None]:
    """``(is_inbound, refusal)`` for ``RCPT TO:<address>``: inbound addresses
    are accepted when a server has them (``550 5.1.1`` otherwise); every other
    address is the bounce MX's decision, unchanged."""
    handled, refusal = inbound_rcpt_verdict(address)
    if handled:
        return True, refusal
    return False, bounce_mx_rcpt_verdict(address)


def mx_receive(
    *, mail_from: str, rcpt_tos: list[str], inbound_rcpts: list[str], raw: bytes
) -> str:
    """Record one DATA and return the SMTP reply: inbound recipients get an
    ``InboundMessage`` each, the others go to the bounce MX's report ingest.
    Raises only for infrastructure failures (the edge answers 451 and the
    sender retries the whole transaction; a transaction mixing both kinds of
    recipient, which real MTAs do not send, may then be recorded twice on
    one side)."""
    inbound = set(inbound_rcpts)
    reports = [rcpt for rcpt in rcpt_tos if rcpt not in inbound]
    reply = ""
    if inbound_rcpts:
        received = inbound_receive(mail_from=mail_from, rcpt_tos=inbound_rcpts, raw=raw)
        if len(received.messages) == 1:
            reply = (
                f"250 2.0.0 Accepted inbound message {received.messages[0].message_id}"
            )
        else:
            reply = f"250 2.0.0 Accepted {len(received.messages)} inbound messages"
    if reports:
        reply = bounce_mx_receive(mail_from=mail_from, rcpt_tos=reports, raw=raw)
    return reply or "250 2.0.0 OK"
