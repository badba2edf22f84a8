"""The development mail sink: an SMTP server that keeps what it receives.

Used by ``make run`` (the default ``SENDER_POOL`` points at it), the demo, the
benchmarks and the tests. It answers documented test recipients the way real
servers do (docs/sink.md):

* ``hardbounce@…`` → ``550 5.1.1`` at RCPT (unknown user),
* ``softbounce@…`` → ``452 4.2.2`` at RCPT (mailbox full),
* ``tempfail@…``   → ``451 4.3.0`` at RCPT the first time, then accepted.

``SinkState`` is the plain, synchronous core (no aiosmtpd types); ``SinkHandler``
is the thin aiosmtpd adapter and ``SinkServer`` runs it on a background thread
(tests use port 0 for an ephemeral port).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


@dataclass
class Received:
    id: str
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: str
    received_at: datetime
    tls: bool = False

    def summary(self) -> dict[str, Any]:
        headers = BytesHeaderParser().parsebytes(self.data)
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "mail_from": self.mail_from,
            "rcpt_tos": self.rcpt_tos,
            "size": len(self.data),
            "subject": str(headers.get("Subject", "")),
            "message_id": str(headers.get("Message-ID", "")),
            "peer": self.peer,
            "tls": self.tls,
        }


@dataclass
class SinkState:
    """What the sink decides and keeps. Thread-safe.

    ``directory``: where ``index.jsonl`` (one JSON summary per message) and
    ``<id>.eml`` go; ``None`` keeps nothing on disk. ``keep_in_memory`` keeps
    ``Received`` objects in ``self.received`` (tests, benchmarks count them).
    """

    directory: Path | None = None
    keep_in_memory: bool = False
    write_eml: bool = True
    # Seconds to wait before answering DATA (tests: a slow remote server).
    data_delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    count: int = 0
    _tempfailed: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    def rcpt_reply(self, address: str) -> str | None:
        """The refusal for a test recipient, or ``None`` to accept it."""
        local = address.rpartition("@")[0].lower()
        if local == "hardbounce":
            return "550 5.1.1 The email account that you tried to reach does not exist"
        if local == "softbounce":
            return "452 4.2.2 The email account that you tried to reach is over quota"
        if local == "tempfail":
            with self._lock:
                if address.lower() not in self._tempfailed:
                    self._tempfailed.add(address.lower())
                    return "451 4.3.0 Temporary local problem, try again later"
        return None

    def accept(
        self,
        *,
        mail_from: str,
        rcpt_tos: list[str],
        data: bytes,
        peer: str,
        tls: bool = False,
    ) -> str:
        """Keep one message; returns the 250 reply (with our queue id)."""
        item = Received(
            id=uuid.uuid4().hex[:16],
            mail_from=mail_from,
            rcpt_tos=list(rcpt_tos),
            data=data,
            peer=peer,
            received_at=datetime.now(UTC),
            tls=tls,
        )
        with self._lock:
            self.count += 1
            if self.keep_in_memory:
                self.received.append(item)
            if self.directory is not None:
                if self.write_eml:
                    (self.directory / f"{item.id}.eml").write_bytes(data)
                with (self.directory / "index.jsonl").open("a") as index:
                    index.write(json.dumps(item.summary()) + "\n")
        return f"250 2.0.0 Ok: queued as {item.id}"

    def listing(self) -> list[dict[str, Any]]:
        """What was received, oldest first (from disk when kept there)."""
        if self.directory is not None and (self.directory / "index.jsonl").exists():
            lines = (self.directory / "index.jsonl").read_text().splitlines()
            return [json.loads(line) for line in lines if line.strip()]
        return [r.summary() for r in self.received]


class SinkHandler:
    """aiosmtpd adapter: every decision is ``SinkState``'s."""

    def __init__(self, state: SinkState) -> None:
        self.state = state

    async def handle_EHLO(  # noqa: N802 - aiosmtpd hook name
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list
    ) -> list[str]:
        # aiosmtpd reads commands line by line, so pipelined commands work;
        # advertise it (RFC 2920) so clients may batch MAIL/RCPT/DATA.
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self,
        server: SMTP,
        session: Any,
        envelope: Any,
        address: str,
        rcpt_options: list,
    ) -> str:
        refusal = self.state.rcpt_reply(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: SMTP, session: Any, envelope: Any
    ) -> str:
        if self.state.data_delay:
            await asyncio.sleep(self.state.data_delay)
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        return self.state.accept(
            mail_from=envelope.mail_from or "",
            rcpt_tos=envelope.rcpt_tos,
            data=envelope.original_content or envelope.content,
            peer=peer,
            tls=session.ssl is not None,
        )


def _smtp_factory(state: SinkState, hostname: str, tls_context: ssl.SSLContext | None):  # noqa: ANN202
    def factory() -> SMTP:
        # No per-command call limit: delivery reuses one session for many
        # messages (aiosmtpd would otherwise answer 421 after 20 MAILs).
        return SMTP(
            SinkHandler(state),
            hostname=hostname,
            command_call_limit=None,
            data_size_limit=50 * 1024 * 1024,
            tls_context=tls_context,
        )

    return factory


async def sink_serve(
    state: SinkState,
    host: str,
    port: int,
    hostname: str = "sink.localhost",
    tls_context: ssl.SSLContext | None = None,
) -> asyncio.Server:
    """Start listening on the running loop; returns the asyncio server.
    With ``tls_context`` the sink offers STARTTLS (RFC 3207)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        _smtp_factory(state, hostname, tls_context), host=host, port=port
    )


class SinkServer:
    """Runs a sink on a background thread. ``port=0`` picks a free port."""

    def __init__(
        self,
        state: SinkState | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.tls_context = tls_context
        self.state = state or SinkState(keep_in_memory=True)
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> SinkServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            sink_serve(self.state, self.host, self.port, tls_context=self.tls_context),
            self._loop,
        )
        self._server = future.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            server = self._server

            async def close() -> None:
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> SinkServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
