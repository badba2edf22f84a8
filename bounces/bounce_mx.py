"""The bounce MX's aiosmtpd edge: a thin handler over ``bounces.reports``.

Cheap checks happen in ``handle_RCPT`` (a forged or unknown VERP gets ``550
5.1.1`` before any data is sent); ``handle_DATA`` records the report and only
then answers 250, so a crash makes the remote MTA retry instead of losing it.
The ORM is synchronous: both calls run in worker threads, never on the loop.

The same listener is the inbound MX: recipients at INBOUND_ADDRESS_DOMAIN or a
server's InboundDomain are routed to ``inbound.receiving`` (docs/inbound.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import close_old_connections, connections

from inbound.receiving import mx_rcpt_verdict, mx_receive

logger = logging.getLogger(__name__)
T = TypeVar("T")
# RFC 3464 reports are small; 10 MB covers a returned message with attachments.
MAX_REPORT_BYTES = 10 * 1024 * 1024


def _in_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ORM work in a pool thread and close its connection afterwards: the
    pool's threads are anonymous and long-lived, and the bounce MX is low
    volume, so a connection per call is cheaper than leaking one per thread."""
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        connections.close_all()


class BounceMxHandler:
    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        inbound, refusal = await asyncio.to_thread(_in_thread, mx_rcpt_verdict, address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        if inbound:
            # Remembered for DATA, which routes each recipient to its side.
            envelope.inbound_rcpts = [*getattr(envelope, "inbound_rcpts", []), address]
        return "250 2.1.5 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        inbound_rcpts = list(getattr(envelope, "inbound_rcpts", []))
        if len(raw) > MAX_REPORT_BYTES and len(inbound_rcpts) < len(envelope.rcpt_tos):
            return "552 5.3.4 Message too big for a bounce report"
        try:
            return await asyncio.to_thread(
                _in_thread,
                mx_receive,
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                inbound_rcpts=inbound_rcpts,
                raw=raw,
            )
        except Exception:  # noqa: BLE001 - any failure: let the sender retry later
            logger.exception("bounce MX could not record a message")
            return "451 4.3.0 Temporary failure recording the report, try again"


class BounceMxController(Controller):
    """``Controller`` that also works with ``port=0`` (tests: an ephemeral port);
    ``self.port`` is the bound port once ``start()`` returns."""

    def _trigger_server(self) -> None:
        if self.server is not None and not self.port:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def bounce_mx_controller(*, host: str, port: int) -> BounceMxController:
    return BounceMxController(
        BounceMxHandler(),
        hostname=host,
        port=port,
        # Inbound mail may be larger than a report; mx_receive checks each side.
        data_size_limit=max(MAX_REPORT_BYTES, settings.INBOUND_MAX_MESSAGE_BYTES),
        # Bounces have an empty MAIL FROM and 8-bit bodies; do not be picky.
        decode_data=False,
        enable_SMTPUTF8=True,
    )
