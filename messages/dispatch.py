"""Dispatch delivery tasks for newly committed messages, coalescing many requests.

Every accepted message must reach a delivery worker. Publishing one Celery task
per ``POST /email`` cost about a quarter of the request's CPU (profile in
docs/benchmarks.md), so each web process publishes at most one task per window
(``DELIVERY_DISPATCH_WINDOW_MS``): the first commit after a quiet spell is
published at once, and the ids committed while a window is running go out
together when it ends. An idle server therefore adds no delay, and a busy one
publishes one task per window, not one per request. With a window of 0 every
commit publishes at once, in the committing thread.

Across processes, at most one delivery task waits in the broker at a time (when
``REDIS_URL`` gives the processes a shared cache): publishing sets a short-lived
"task waiting" flag with an atomic add, a worker clears it as it starts a task,
and while it is set a process publishes nothing. The waiting task is enough: it
claims every due recipient, not only the ids it names. Without the flag the
broker queue grew by ~60 tasks a second in the soak test at 180 msg/s (web
processes published faster than workers could even discard tasks whose rows
another task had already delivered), although delivery itself kept up.

PostgreSQL stays the queue of record: if the process dies inside the window or
the broker is down, the ids are only late, not lost; the delivery sweeper finds
queued recipients by their ``next_attempt_at``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from django.conf import settings

logger = logging.getLogger(__name__)

MAX_IDS_PER_TASK = 500
WAITING_KEY = "delivery:task-waiting"
# A flag never cleared (its task lost with the broker) stops publishing for at
# most this long; the sweeper covers that gap as it covers any lost task.
WAITING_TTL_SECONDS = 2


def _task_already_waiting() -> bool:
    """True when another delivery task is queued and not yet started; otherwise
    marks one as waiting (the caller then publishes it)."""
    if not settings.REDIS_URL:
        return False  # no cache shared with the workers: always publish
    from django.core.cache import cache

    try:
        return not cache.add(WAITING_KEY, 1, timeout=WAITING_TTL_SECONDS)
    except Exception:  # noqa: BLE001 - cache trouble must not stop dispatch
        return False


def task_started() -> None:
    """Called by a delivery task as it starts: the next commit publishes again."""
    if not settings.REDIS_URL:
        return
    from django.core.cache import cache

    try:
        cache.delete(WAITING_KEY)
    except Exception:  # noqa: BLE001 - the flag expires by itself
        logger.warning("could not clear the delivery task flag", exc_info=True)


class _Coalescer:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.pending: list[int] = []
        self.wakeup = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, message_ids: list[int]) -> None:
        with self.lock:
            self.pending.extend(message_ids)
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="delivery-dispatch", daemon=True
                )
                self.thread.start()
        self.wakeup.set()

    def _run(self) -> None:
        while True:
            self.wakeup.wait()
            self.flush()
            # Hold off for one window; ids committed meanwhile set ``wakeup``
            # again and are published together when it ends.
            time.sleep(settings.DELIVERY_DISPATCH_WINDOW_MS / 1000)

    def flush(self) -> None:
        with self.lock:
            self.wakeup.clear()
            ids, self.pending = self.pending, []
        _publish(ids)


_coalescer: _Coalescer | None = None
_coalescer_lock = threading.Lock()


def delivery_dispatch(*, message_ids: list[int]) -> None:
    """Ask a delivery worker to deliver these (committed) messages soon.

    Call it after commit (``transaction.on_commit``). Never raises for broker
    trouble (logged; the sweeper recovers). Safe to call twice: delivery claims
    recipients with a conditional UPDATE, so a duplicate task finds nothing.
    """
    global _coalescer
    if settings.DELIVERY_DISPATCH_WINDOW_MS <= 0:
        _publish(message_ids)
        return
    with _coalescer_lock:
        # A forked worker inherits the parent's object but not its thread.
        if _coalescer is None or _coalescer.pid != os.getpid():
            _coalescer = _Coalescer()
        coalescer = _coalescer
    coalescer.add(message_ids)


def _publish(message_ids: list[int]) -> None:
    from .tasks import deliver_messages  # tasks import services; avoid a cycle

    if not message_ids or _task_already_waiting():
        return
    for start in range(0, len(message_ids), MAX_IDS_PER_TASK):
        chunk = message_ids[start : start + MAX_IDS_PER_TASK]
        try:
            deliver_messages.delay(chunk)
        except Exception:  # noqa: BLE001 - any broker failure: the sweeper recovers
            logger.warning(
                "could not dispatch delivery of %d messages; the sweeper will",
                len(chunk),
                exc_info=True,
            )


@atexit.register
def _flush_at_exit() -> None:
    if _coalescer is not None and _coalescer.pid == os.getpid():
        _coalescer.flush()
