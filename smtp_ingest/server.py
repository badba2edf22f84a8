"""Listeners for SMTP submission: STARTTLS ports and implicit-TLS ports.

``SubmissionServer`` runs inside an asyncio loop (the ``smtpd`` command);
``ServerThread`` runs one in a background thread for tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from typing import Any

from .handler import (
    ConnectionRegistry,
    CoreExecutor,
    GroupCommitter,
    SmtpdConfig,
    SubmissionHandler,
    SubmissionSMTP,
)
from .ratelimit import RedisBucket, bucket_for, failure_counter_for

log = logging.getLogger(__name__)


class SubmissionServer:
    """Every configured port: ``ports`` offer STARTTLS, ``tls_ports`` are TLS
    from the first byte (RFC 8314 §3.3). Port 0 picks a free port."""

    def __init__(
        self,
        *,
        host: str,
        ports: list[int],
        tls_ports: list[int],
        tls_context: ssl.SSLContext | None,
        config: SmtpdConfig,
        reuse_port: bool = False,
    ) -> None:
        self.host = host
        self.ports = ports
        self.tls_ports = tls_ports
        self.tls_context = tls_context
        self.config = config
        self.reuse_port = reuse_port
        self.registry = ConnectionRegistry()
        self.executor = CoreExecutor(config.workers)
        self.bucket = bucket_for(
            redis_url=config.redis_url,
            rate=config.token_rate,
            burst=config.token_burst,
        )
        self.committer = GroupCommitter(
            self.executor, max_wait=config.group_commit_wait
        )
        self.auth_failures = failure_counter_for(
            redis_url=config.redis_url,
            limit=config.auth_failures_per_ip,
            window=config.auth_failure_window,
        )
        self.handler = SubmissionHandler(
            bucket=self.bucket,
            committer=self.committer,
            auth_failures=self.auth_failures,
        )
        self._servers: list[asyncio.base_events.Server] = []
        self.bound_ports: list[int] = []
        self.bound_tls_ports: list[int] = []

    def _factory(self, implicit_tls: bool) -> Any:
        def build() -> SubmissionSMTP:
            return SubmissionSMTP(
                self.handler,
                config=self.config,
                executor=self.executor,
                registry=self.registry,
                implicit_tls=implicit_tls,
                # STARTTLS is offered on plain ports only.
                tls_context=None if implicit_tls else self.tls_context,
                loop=asyncio.get_running_loop(),
            )

        return build

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.tls_ports and self.tls_context is None:
            raise ValueError("implicit TLS ports need a TLS context")
        for port, implicit in [(p, False) for p in self.ports] + [
            (p, True) for p in self.tls_ports
        ]:
            server = await loop.create_server(
                self._factory(implicit),
                self.host,
                port,
                ssl=self.tls_context if implicit else None,
                reuse_port=self.reuse_port or None,
                backlog=512,
            )
            self._servers.append(server)
            bound = server.sockets[0].getsockname()[1]
            (self.bound_tls_ports if implicit else self.bound_ports).append(bound)
            log.info(
                "SMTP submission listening on %s:%s (%s)",
                self.host,
                bound,
                "implicit TLS" if implicit else "STARTTLS",
            )

    async def stop(self) -> None:
        """Stop listening, tell live clients ``421`` (RFC 5321 §3.8), clean up."""
        for server in self._servers:
            server.close()
        tasks = []
        for protocol in list(self.registry.live):
            transport = protocol.transport
            if transport is not None and not transport.is_closing():
                protocol._flush_held()
                transport.write(  # type: ignore[attr-defined]
                    b"421 4.3.2 Service shutting down; try again later\r\n"
                )
                transport.close()
            if protocol._handler_coroutine is not None:
                protocol._handler_coroutine.cancel()
                tasks.append(protocol._handler_coroutine)
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        await asyncio.sleep(0.05)  # let connection_lost callbacks run
        await self.committer.stop()
        if isinstance(self.bucket, RedisBucket):
            await self.bucket.close()
        await self.auth_failures.close()
        await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown)


class ServerThread:
    """Run a ``SubmissionServer`` in a background thread (tests, benchmarks).

    ``with ServerThread(config=..., tls_context=...) as srv: srv.port``
    """

    def __init__(
        self,
        *,
        config: SmtpdConfig,
        tls_context: ssl.SSLContext | None,
        host: str = "127.0.0.1",
        implicit_tls: bool = True,
    ) -> None:
        self.server = SubmissionServer(
            host=host,
            ports=[0],
            tls_ports=[0] if implicit_tls and tls_context else [],
            tls_context=tls_context,
            config=config,
        )
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.server.bound_ports[0]

    @property
    def tls_port(self) -> int:
        return self.server.bound_tls_ports[0]

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:  # noqa: BLE001 - re-raised in start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop())
        self.loop.close()

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(15)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
