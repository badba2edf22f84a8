"""The hit buffer between the tracking endpoints and PostgreSQL.

The endpoints must answer fast at high rates, so a hit is one Redis ``RPUSH``
(pipelined with a ``SET NX`` that schedules one drain task per burst) and the
drain task writes hits to PostgreSQL in batches (``tracking_hits_record``).
Without ``REDIS_URL`` hits are recorded in the request itself.

Delivery to PostgreSQL is at least once: the drainer reads a batch with
``LRANGE``, commits it, and only then ``LTRIM``s it away, holding a Redis lock
so one drainer works at a time. A drainer that dies between commit and trim
makes the next one record that batch again (rows are unique, so only counters
could count it twice); a hit is never dropped once Redis has it. How long Redis
itself keeps un-drained hits across a restart depends on its persistence
settings (docs/tracking.md).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime

import redis
from django.conf import settings

from . import tokens
from .services import Hit, tracking_hits_record

logger = logging.getLogger("tracking")

KEY = "pmc:tracking:hits"
FLAG = "pmc:tracking:drain-scheduled"
LOCK = "pmc:tracking:drain-lock"
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _client() -> redis.Redis:
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.setdefault(url, redis.Redis.from_url(url))
    return client


def hit_push(*, token: str, ip: str, user_agent: str) -> None:
    """Keep one verified endpoint hit (``token`` is its text). One round trip
    to Redis; at most one drain task is queued per burst. Without Redis (not
    configured, or failing) the hit is recorded in PostgreSQL at once."""
    now = datetime.now(tz=UTC)
    if settings.REDIS_URL:
        item = json.dumps([token, now.timestamp(), ip, user_agent[:2000]])
        pipe = _client().pipeline(transaction=False)
        pipe.rpush(KEY, item)
        pipe.set(FLAG, "1", nx=True, ex=30)
        try:
            _length, scheduled = pipe.execute()
        except redis.RedisError as exc:
            # Redis unavailable: record in the request rather than lose the hit.
            logger.warning("tracking buffer unavailable (%s); recording inline", exc)
        else:
            if scheduled:
                from .tasks import tracking_drain  # tasks import this module

                tracking_drain.delay()
            return
    parsed = tokens.decode(token)
    if parsed is not None:
        tracking_hits_record(
            hits=[Hit(token=parsed, at=now, ip=ip, user_agent=user_agent)]
        )


def _hit(item: bytes) -> Hit | None:
    try:
        text, at, ip, user_agent = json.loads(item)
        parsed = tokens.decode(text)
        when = datetime.fromtimestamp(float(at), tz=UTC)
    except (ValueError, TypeError):
        logger.warning("dropping a malformed tracking buffer item")
        return None
    if parsed is None:  # SECRET_KEY rotated since the hit was kept
        return None
    return Hit(token=parsed, at=when, ip=str(ip or ""), user_agent=str(user_agent))


def hits_drain(*, max_batches: int | None = None) -> int | None:
    """Move buffered hits into PostgreSQL until the buffer is empty (or
    ``max_batches``); returns hits read, or ``None`` when another drainer holds
    the lock. Safe to call concurrently and twice."""
    if not settings.REDIS_URL:
        return 0
    client = _client()
    lock = client.lock(LOCK, timeout=300, blocking=False)
    if not lock.acquire():
        return None
    total = 0
    try:
        # Hits pushed from now on schedule a new drain (the flag is gone).
        client.delete(FLAG)
        batches = 0
        size = max(1, settings.TRACKING_DRAIN_BATCH)
        while max_batches is None or batches < max_batches:
            items = client.lrange(KEY, 0, size - 1)
            if not items:
                break
            hits = [h for h in (_hit(i) for i in items) if h is not None]
            if hits:
                tracking_hits_record(hits=hits)
            client.ltrim(KEY, len(items), -1)
            lock.extend(300, replace_ttl=True)
            total += len(items)
            batches += 1
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            logger.warning("tracking drain lock expired while draining")
    return total


def hits_pending() -> int:
    """Hits waiting in the buffer (0 without Redis)."""
    return int(_client().llen(KEY)) if settings.REDIS_URL else 0
