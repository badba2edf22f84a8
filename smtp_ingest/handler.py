"""The thin aiosmtpd edge of SMTP submission (the only importer of aiosmtpd).

It parses the protocol, authenticates through ``core.authenticate``, applies
connection-level limits and hands each accepted transaction to ``core.submit``
in a worker thread (the core is synchronous Django code; the event loop must
never block on the database). Every reply carries an RFC 3463 enhanced status
code, and no exception text ever reaches a client.
"""

from __future__ import annotations

import asyncio
import binascii
import ipaddress
import logging
import re
import threading
from base64 import b64decode
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session
from django.db import close_old_connections, connections

from . import core
from .ratelimit import (
    LocalBucket,
    LocalFailureCounter,
    RedisBucket,
    RedisFailureCounter,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# aiosmtpd's canned replies, given RFC 3463 enhanced status codes.
_REWRITES = {
    "250 OK": "250 2.0.0 OK",
    "221 Bye": "221 2.0.0 Bye",
    "552 Error: Too much mail data": "552 5.3.4 Message size exceeds fixed maximum "
    "message size",
    "552 Error: message size exceeds fixed maximum message size": "552 5.3.4 Message "
    "size exceeds fixed maximum message size",
    "500 Line too long (see RFC5321 4.5.3.1.6)": "500 5.5.2 Line too long "
    "(RFC 5321 section 4.5.3.1.6)",
    "500 Command line too long": "500 5.5.2 Command line too long",
    "503 Error: need MAIL command": "503 5.5.1 Error: need MAIL command",
    "503 Error: need RCPT command": "503 5.5.1 Error: need RCPT command",
    "503 Error: nested MAIL command": "503 5.5.1 Error: nested MAIL command",
    "503 Already authenticated": "503 5.5.1 Already authenticated",
    "500 Error: bad syntax": "500 5.5.2 Error: bad syntax",
}
_SIMPLE_PATH = re.compile(
    r"^\s*<([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9][A-Za-z0-9.-]*)>(.*)$"
)
_GENERIC = {"500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1"}


@dataclass
class SmtpdConfig:
    """Edge settings (from Django settings; tests override single fields)."""

    hostname: str
    max_message_bytes: int
    auth_require_tls: bool
    allow_loopback_plaintext: bool
    idle_timeout: float
    data_timeout: float
    max_messages_per_connection: int
    max_auth_failures: int
    max_connections: int
    token_rate: float
    token_burst: int
    workers: int
    redis_url: str
    group_commit_wait: float = 0.0
    auth_failures_per_ip: int = 0
    auth_failure_window: float = 300.0
    max_connections_per_ip: int = 0

    @classmethod
    def from_settings(cls, **overrides: Any) -> SmtpdConfig:
        from django.conf import settings

        values = {
            "hostname": settings.SMTPD_HOSTNAME,
            "max_message_bytes": settings.MAX_MESSAGE_BYTES,
            "auth_require_tls": settings.SMTPD_AUTH_REQUIRE_TLS,
            "allow_loopback_plaintext": settings.SMTPD_AUTH_ALLOW_LOOPBACK_PLAINTEXT,
            "idle_timeout": settings.SMTPD_IDLE_TIMEOUT,
            "data_timeout": settings.SMTPD_DATA_TIMEOUT,
            "max_messages_per_connection": settings.SMTPD_MAX_MESSAGES_PER_CONNECTION,
            "max_auth_failures": settings.SMTPD_MAX_AUTH_FAILURES,
            "max_connections": settings.SMTPD_MAX_CONNECTIONS,
            "token_rate": settings.SMTPD_TOKEN_RATE,
            "token_burst": settings.SMTPD_TOKEN_BURST,
            "workers": settings.SMTPD_WORKERS,
            "redis_url": settings.REDIS_URL,
            "group_commit_wait": settings.SMTPD_GROUP_COMMIT_WAIT_MS / 1000,
            "auth_failures_per_ip": settings.SMTPD_AUTH_FAILURES_PER_IP,
            "auth_failure_window": settings.SMTPD_AUTH_FAILURE_WINDOW_SECONDS,
            "max_connections_per_ip": settings.SMTPD_MAX_CONNECTIONS_PER_IP,
        }
        values.update(overrides)
        return cls(**values)


class CoreExecutor:
    """Runs the synchronous core in worker threads, one DB connection each."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="smtpd-core")

    async def run(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(_call, fn, kwargs))

    def shutdown(self) -> None:
        """Close every worker's database connection, then stop the threads."""
        barrier = threading.Barrier(self.workers)

        def close() -> None:
            # Each task waits for the others, so every worker thread runs one.
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass
            connections.close_all()

        for _ in range(self.workers):
            self._pool.submit(close)
        self._pool.shutdown(wait=True)


def _call(fn: Callable[..., T], kwargs: dict[str, Any]) -> T:
    try:
        return fn(**kwargs)
    finally:
        # As after an HTTP request: drop broken or expired connections.
        close_old_connections()


class GroupCommitter:
    """Group commit across sessions: messages that arrive while the workers are
    busy are committed together, one transaction and one delivery task per
    batch (the way databases amortise fsync).

    Before committing, a committer also waits up to ``max_wait`` seconds for
    the transactions already under way (``MAIL FROM`` accepted, DATA not yet
    complete) to join the batch: most of a message's cost is per batch, and
    without the wait concurrent sessions split into two alternating halves.
    When no other transaction is under way nothing waits: an idle server
    commits a lone message at once."""

    def __init__(
        self, executor: CoreExecutor, *, max_batch: int = 64, max_wait: float = 0.0
    ) -> None:
        self.executor = executor
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.under_way = 0  # transactions between MAIL FROM and end of DATA
        self._queue: asyncio.Queue[tuple[Any, core.Submission, asyncio.Future]] = (
            asyncio.Queue()
        )
        self._arrival: asyncio.Future[None] | None = None
        self._gathering = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def submit(self, server: Any, submission: core.Submission) -> core.Reply:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._commit_loop())
                for _ in range(self.executor.workers)
            ]
        future: asyncio.Future[core.Reply] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((server, submission, future))
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)
        return await future

    async def _commit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # One committer gathers while the others commit: several gathering
            # at once would split the arrivals into smaller batches.
            async with self._gathering:
                batch = [await self._queue.get()]
                deadline = loop.time() + self.max_wait
                while len(batch) < self.max_batch:
                    if not self._queue.empty():
                        batch.append(self._queue.get_nowait())
                        continue
                    remaining = deadline - loop.time()
                    if self.under_way <= 0 or remaining <= 0:
                        break
                    await self._next_arrival(remaining)
            groups: dict[int, list[tuple[Any, core.Submission, asyncio.Future]]] = {}
            for item in batch:
                groups.setdefault(item[0].id, []).append(item)
            for items in groups.values():
                try:
                    replies = await self.executor.run(
                        core.submit_batch,
                        server=items[0][0],
                        submissions=[submission for _s, submission, _f in items],
                    )
                except Exception:  # noqa: BLE001 - the edge: log it, never show it
                    log.exception("SMTP submission batch of %d failed", len(items))
                    replies = [core.TEMPORARY_FAILURE] * len(items)
                for (_server, _submission, future), reply in zip(
                    items, replies, strict=True
                ):
                    if not future.done():  # the client may have gone away
                        future.set_result(reply)

    async def _next_arrival(self, timeout: float) -> None:
        """Wait until a message is queued, at most ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        if self._arrival is None or self._arrival.done():
            self._arrival = loop.create_future()
        arrival = self._arrival
        timer = loop.call_later(
            timeout, lambda: arrival.done() or arrival.set_result(None)
        )
        try:
            await asyncio.shield(arrival)
        finally:
            timer.cancel()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class ConnectionRegistry:
    """Live connections, for the global and per-IP limits and a graceful
    shutdown."""

    def __init__(self) -> None:
        self.live: set[SubmissionSMTP] = set()
        self.per_ip: dict[str, int] = {}

    def add(self, protocol: SubmissionSMTP, ip: str) -> None:
        self.live.add(protocol)
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1

    def discard(self, protocol: SubmissionSMTP, ip: str) -> None:
        if protocol in self.live:
            self.live.discard(protocol)
            left = self.per_ip.get(ip, 1) - 1
            if left > 0:
                self.per_ip[ip] = left
            else:
                self.per_ip.pop(ip, None)


def _peer_ip(peer: Any) -> str:
    try:
        return str(peer[0])
    except (TypeError, IndexError):
        return ""


def _is_loopback(peer: Any) -> bool:
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except (TypeError, ValueError, IndexError):
        return False


class SubmissionSMTP(SMTP):
    """aiosmtpd's protocol with our AUTH, limits, timeouts and reply codes."""

    def __init__(
        self,
        handler: SubmissionHandler,
        *,
        config: SmtpdConfig,
        executor: CoreExecutor,
        registry: ConnectionRegistry,
        implicit_tls: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            handler,
            hostname=config.hostname,
            ident="ESMTP postmark-clone",
            data_size_limit=config.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            timeout=config.idle_timeout,
            auth_required=True,
            auth_require_tls=config.auth_require_tls,
            **kwargs,
        )
        self.config = config
        self.executor = executor
        self.registry = registry
        self.implicit_tls = implicit_tls
        self.auth_failures = 0
        self.messages_started = 0
        self._held: list[bytes] = []  # replies held while the client pipelines
        self._under_way = False  # counted in the committer's ``under_way``
        self._deadline = 0.0  # idle or DATA timeout (see _reset_timeout)
        self._over_capacity = ""  # the 421 reply when over a connection limit
        self.peer_ip = ""

    # --- connection lifecycle -------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if not first:
            return  # the same connection after STARTTLS
        peer = transport.get_extra_info("peername")
        if self.implicit_tls or (
            self.config.allow_loopback_plaintext and _is_loopback(peer)
        ):
            # Implicit TLS is encrypted from the first byte; loopback plaintext
            # AUTH is a development convenience the operator opts into.
            self._auth_require_tls = False
        self.peer_ip = _peer_ip(peer)
        per_ip_limit = self.config.max_connections_per_ip
        if len(self.registry.live) >= self.config.max_connections:
            self._over_capacity = "421 4.3.2 Too many connections; try again later"
        elif per_ip_limit > 0 and (
            self.registry.per_ip.get(self.peer_ip, 0) >= per_ip_limit
        ):
            # One client (or a slowloris) cannot take every slot from the others.
            self._over_capacity = (
                "421 4.3.2 Too many connections from your address; try again later"
            )
        self.registry.add(self, self.peer_ip)

    def connection_lost(self, error: Exception | None) -> None:
        self.registry.discard(self, self.peer_ip)
        self.transaction_ended()
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if self._over_capacity:
            await self.push(self._over_capacity)
            self.close_soon()
            return
        await super()._handle_client()

    # --- transactions under way, for the group committer's wait --------------
    def transaction_started(self) -> None:
        if not self._under_way:
            self._under_way = True
            self.event_handler.committer.under_way += 1

    def transaction_ended(self) -> None:
        if getattr(self, "_under_way", False):
            self._under_way = False
            self.event_handler.committer.under_way -= 1

    def _set_post_data_state(self) -> None:
        # After DATA, and through _set_rset_state on RSET, HELO, EHLO, STARTTLS.
        self.transaction_ended()
        super()._set_post_data_state()

    def close_soon(self) -> None:
        """Close after the reply being written is flushed."""
        if self.transport is not None:
            self._flush_held()
            self.loop.call_soon(self.transport.close)

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd cancels and re-creates a timer for every command; here the
        # deadline moves and one timer re-arms itself when it fires early
        # (the timer heap work showed in the event loop's profile).
        deadline = self.loop.time() + (duration or self._timeout_duration)
        self._deadline = deadline
        handle = self._timeout_handle
        if handle is None or handle.cancelled() or handle.when() > deadline:
            if handle is not None:
                handle.cancel()
            self._timeout_handle = self.loop.call_at(deadline, self._timeout_cb)

    def _timeout_cb(self) -> None:
        if self.loop.time() < self._deadline:  # the deadline moved since
            self._timeout_handle = self.loop.call_at(self._deadline, self._timeout_cb)
            return
        # RFC 5321 §4.5.3.2 timeouts: say why before closing (aiosmtpd is silent).
        if self.transport is not None and not self.transport.is_closing():
            self._flush_held()
            text = f"421 4.4.2 {self.hostname} Timeout; closing connection\r\n"
            self.transport.write(text.encode())  # type: ignore[attr-defined]
        super()._timeout_cb()

    async def smtp_DATA(self, arg: str) -> None:
        # Against slow clients: the whole DATA transfer has one deadline,
        # however often the client trickles a byte.
        self._reset_timeout(self.config.data_timeout)
        # aiosmtpd's checks and replies; its read loop is replaced by a leaner
        # one (_read_data) with the same rules: the profile showed aiosmtpd's
        # per-line fragment lists and bytearray joins at ~30% of the event loop.
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content, problem = await self._read_data()
        if problem is not None:
            self._set_post_data_state()
            await self.push(problem)
            return
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> tuple[bytes, str | None]:
        """Read DATA up to the lone dot, undoing dot-stuffing (RFC 5321 §4.5.2).

        Lines are CRLF-terminated (§2.3.8: a bare LF does not end a line). A
        line over ``line_length_limit`` octets (§4.5.3.1.6) or more than
        ``data_size_limit`` octets in all make the whole message fail once
        the dot has arrived; nothing more is kept in memory from then on.
        """
        reader = self._reader
        size_limit = self.data_size_limit
        line_limit = self.line_length_limit
        lines: list[bytes] = []
        size = 0
        problem: str | None = None
        in_long_line = False
        while True:
            try:
                line = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as error:
                # No CRLF within the limit: drop what is buffered of this line.
                size += len(await reader.read(error.consumed))
                problem = problem or "500 Line too long (see RFC5321 4.5.3.1.6)"
                lines.clear()
                in_long_line = True
                continue
            if in_long_line:  # the end of a line too long; never the lone dot
                in_long_line = False
                size += len(line)
                continue
            if line == b".\r\n":
                break
            size += len(line)
            if problem is not None:
                continue
            if size_limit and size > size_limit:
                problem = "552 Error: Too much mail data"
                lines.clear()
                continue
            if len(line) > line_limit:  # the reader's limit counts before CRLF
                problem = "500 Line too long (see RFC5321 4.5.3.1.6)"
                lines.clear()
                continue
            lines.append(line[1:] if line[:1] == b"." else line)
        return b"".join(lines), problem

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, str):
            status = _REWRITES.get(status, status)
            code = status[:3]
            if code in _GENERIC and status[3:4] == " " and not status[4:5].isdigit():
                status = f"{code} {_GENERIC[code]} {status[4:]}"
            status = status.encode()  # UTF-8: SMTPUTF8 is enabled
        line = status + b"\r\n"
        if status[3:4] == b"-" or (status[:3] == b"250" and self._command_waiting()):
            # RFC 2920 §3.2: while more pipelined commands are waiting, replies
            # may be held and sent together (one write, one segment). A held
            # reply is always followed by another one: a continuation line by
            # its last line, a 250 by the reply to the complete command that
            # is already buffered. Anything but 250 goes out at once (354 for
            # DATA, 220 for STARTTLS, 221/421 before closing, errors).
            self._held.append(line)
            return
        if self._held:
            self._held.append(line)
            line = b"".join(self._held)
            self._held.clear()
        self._writer.write(line)
        await self._writer.drain()

    def _command_waiting(self) -> bool:
        """Whether a complete command line is already buffered (the client
        pipelines). asyncio offers no public peek: without ``_buffer`` every
        reply is simply written at once."""
        return b"\n" in getattr(self._reader, "_buffer", b"")

    def _flush_held(self) -> None:
        if self._held and self.transport is not None:
            self.transport.write(b"".join(self._held))  # type: ignore[attr-defined]
        self._held.clear()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # Fast path for the everyday ``<dot-atom@domain>`` path (RFC 5321 §4.1.2);
        # anything else goes through aiosmtpd's full RFC 5322 parser. Profiling
        # showed the full parser at ~15% of the event loop.
        match = _SIMPLE_PATH.match(arg)
        if match is not None and ".." not in match[1]:
            return match[1], match[2].lstrip()
        return super()._getaddr(arg)

    # --- AUTH PLAIN (RFC 4616) and LOGIN, checked off the event loop ------------
    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            blob = await self.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = b64decode(args[1].encode(), validate=True)
            except (binascii.Error, ValueError):
                await self.push("501 5.5.2 Cannot decode base64")
                return AuthResult(success=False, handled=True)
        assert isinstance(blob, bytes)
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await self.push("501 5.5.2 Cannot split AUTH PLAIN value")
            return AuthResult(success=False, handled=True)
        return await self._verify(parts[1], parts[2])

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            login = await self.challenge_auth(self.AuthLoginUsernameChallenge)
            if login is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                login = b64decode(args[1].encode(), validate=True)
            except (binascii.Error, ValueError):
                await self.push("501 5.5.2 Cannot decode base64")
                return AuthResult(success=False, handled=True)
        password = await self.challenge_auth(self.AuthLoginPasswordChallenge)
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        assert isinstance(login, bytes) and isinstance(password, bytes)
        return await self._verify(login, password)

    async def _verify(self, login: bytes, password: bytes) -> AuthResult:
        failures = self.event_handler.failed_auths
        if await failures.blocked(self.peer_ip):
            # Token guessing across connections: refused before any lookup.
            self.close_soon()
            return AuthResult(
                success=False,
                handled=False,
                message="421 4.7.0 Too many failed authentication attempts from "
                "your address; try again later",
            )
        outcome = await self.executor.run(
            core.authenticate, username=login, password=password
        )
        if outcome.server is not None:
            # The Server is cached for the whole connection: one lookup per session.
            return AuthResult(
                success=True, auth_data=outcome.server, message=str(outcome.reply)
            )
        self.auth_failures += 1
        await failures.failed(self.peer_ip)
        if self.auth_failures >= self.config.max_auth_failures:
            self.close_soon()
            return AuthResult(
                success=False,
                handled=False,
                message="421 4.7.0 Too many failed authentication attempts; "
                "closing connection",
            )
        return AuthResult(success=False, handled=False, message=str(outcome.reply))


class SubmissionHandler:
    """aiosmtpd hooks: envelope checks in MAIL/RCPT, the core call in DATA."""

    def __init__(
        self,
        *,
        bucket: LocalBucket | RedisBucket,
        committer: GroupCommitter,
        auth_failures: LocalFailureCounter | RedisFailureCounter | None = None,
    ) -> None:
        self.bucket = bucket
        self.committer = committer
        # Not ``auth_*``: aiosmtpd takes handler attributes named so for AUTH
        # mechanisms and would advertise them.
        self.failed_auths = auth_failures or LocalFailureCounter(limit=0, window=1)

    async def handle_EHLO(
        self,
        smtp: SubmissionSMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Advertise PIPELINING (RFC 2920) besides aiosmtpd's extensions.

        aiosmtpd reads commands from a buffered stream in order and never drops
        buffered input, which is what RFC 2920 asks of a server; ``push`` batches
        the replies."""
        session.host_name = hostname  # this hook's duty in aiosmtpd's API
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self,
        smtp: SubmissionSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        reply = core.check_sender(address)
        if reply.code != 250:
            return str(reply)
        smtp.messages_started += 1
        if smtp.messages_started > smtp.config.max_messages_per_connection:
            smtp.close_soon()
            return (
                "421 4.7.0 Too many messages on this connection; reconnect to continue"
            )
        if not await self.bucket.allow(f"server:{session.auth_data.id}"):
            return "451 4.7.1 Sending rate limit exceeded for this server; try later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        smtp.transaction_started()
        return str(reply)

    async def handle_RCPT(
        self,
        smtp: SubmissionSMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = core.check_recipient(address, accepted=len(envelope.rcpt_tos))
        if reply.code == 250 and address.lower() not in {
            r.lower() for r in envelope.rcpt_tos
        }:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return str(reply)

    async def handle_DATA(
        self, smtp: SubmissionSMTP, session: Session, envelope: Envelope
    ) -> str:
        smtp.transaction_ended()  # queued now: the committer need not wait for it
        reply = await self.committer.submit(
            session.auth_data,
            core.Submission(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                data=envelope.original_content or b"",
            ),
        )
        return str(reply)

    async def handle_exception(self, error: Exception) -> str:
        """Map anything that escaped a command to a reply without details."""
        if isinstance(error, TimeoutError):
            return "421 4.4.2 Timeout"
        if isinstance(error, UnicodeError):
            return "500 5.5.2 Error: bad syntax"
        log.error("SMTP command failed: %r", error, exc_info=error)
        return "451 4.3.0 Local error in processing; try again later"
