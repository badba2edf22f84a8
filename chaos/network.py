"""The far side of delivery, and a switchable fault on a TCP path.

``Sink`` is the remote MTA every message is relayed to (aiosmtpd on loopback). It
counts each recipient's deliveries (a second copy is a duplicate), rejects
``bounce-…`` local parts with ``550 5.1.1`` (those must end as bounces), and can
hold a transaction inside DATA so a worker can be killed before the remote 250.

``FaultProxy`` forwards a TCP port to another and can, on command, hang (accept,
never answer), refuse (accept and close at once), answer SMTP ``421`` to
everything, or cut an SMTP session in the middle of DATA.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter

from aiosmtpd.controller import Controller

CHAOS_LOCAL = re.compile(r"^(?:bounce-)?c(\d+)@", re.I)


class _SinkHandler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.lower().startswith("bounce-"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        sink = self.sink
        # Committed before the reply, like a real MTA: if the sender dies before
        # it reads the 250, the message is delivered all the same.
        with sink.lock:
            for rcpt in envelope.rcpt_tos:
                match = CHAOS_LOCAL.match(rcpt)
                if match:
                    ident = int(match.group(1))
                    sink.deliveries[ident] += 1
                    sink.return_paths[ident] = envelope.mail_from
            sink.accepted_total += 1
        if sink.hold.is_set():
            sink.in_data.set()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, sink.release.wait, 60)
        return "250 2.0.0 Ok: queued"


class Sink:
    def __init__(self, port: int) -> None:
        self.port = port
        self.lock = threading.Lock()
        self.deliveries: Counter[int] = Counter()
        self.return_paths: dict[int, str] = {}
        self.accepted_total = 0
        self.hold = threading.Event()
        self.in_data = threading.Event()
        self.release = threading.Event()
        self.controller = Controller(
            _SinkHandler(self), hostname="127.0.0.1", port=port, ready_timeout=10
        )

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.release.set()
        self.controller.stop()

    def reset(self) -> None:
        with self.lock:
            self.deliveries.clear()
            self.return_paths.clear()
            self.accepted_total = 0
        self.hold.clear()
        self.in_data.clear()
        self.release.clear()

    def snapshot(self) -> Counter[int]:
        with self.lock:
            return Counter(self.deliveries)


class FaultProxy:
    MODES = ("pass", "hang", "refuse", "smtp421", "close_mid_data")

    def __init__(self, port: int, target_port: int) -> None:
        self.port = port
        self.target_port = target_port
        self.mode = "pass"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def set(self, mode: str) -> None:
        """Switch mode; open sessions are cut so the new mode applies at once."""
        assert mode in self.MODES, mode
        self.mode = mode
        self._loop.call_soon_threadsafe(self._cut_all)

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _client(self, reader, writer) -> None:
        self._writers.add(writer)
        try:
            mode = self.mode
            if mode == "refuse":
                writer.transport.abort()
                return
            if mode == "hang":
                while await reader.read(65536):
                    pass
                return
            if mode == "smtp421":
                writer.write(b"421 4.3.2 Service not available, closing channel\r\n")
                await writer.drain()
                while line := await reader.readline():
                    if line.strip().upper() == b"QUIT":
                        break
                    writer.write(b"421 4.3.2 Service not available\r\n")
                    await writer.drain()
                return
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
            self._writers.add(up_writer)
            cut = mode == "close_mid_data"
            await asyncio.gather(
                self._pipe(reader, up_writer, watch_data=cut, peer=writer),
                self._pipe(up_reader, writer),
                return_exceptions=True,
            )
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader, writer, *, watch_data=False, peer=None) -> None:
        seen_data = False
        try:
            while chunk := await reader.read(65536):
                if watch_data and seen_data:
                    # Part of the message reaches the remote MTA, then the
                    # connection drops: the sender must not count it delivered.
                    writer.write(chunk[: max(1, len(chunk) // 2)])
                    await writer.drain()
                    writer.transport.abort()
                    peer.transport.abort()
                    return
                if watch_data and re.search(rb"(^|\r\n)DATA\r\n", chunk, re.I):
                    seen_data = True
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.transport.abort()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
