"""Token buckets for the SMTP edge: per server token, shared across processes.

With ``REDIS_URL`` set, the bucket lives in Redis (one atomic Lua call per
message, so every smtpd process shares it); otherwise an in-process bucket is
used. The only user of Redis for rate limiting.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV rate (tokens/s), burst, now (s), cost. Returns 1 if allowed.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
"""


class LocalBucket:
    """In-process token bucket per key (used from the event loop thread only)."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}

    async def allow(self, key: str, cost: int = 1) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        tokens, stamp = self._state.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._state[key] = (tokens, now)
        if len(self._state) > 100_000:  # forget idle buckets; they refill anyway
            self._state.clear()
        return allowed


class RedisBucket:
    """Token bucket in Redis, shared by every smtpd process.

    Fails open: when Redis is unreachable the message is allowed and a warning
    logged, since the limit protects against abuse and must not stop mail.
    """

    def __init__(self, *, url: str, rate: float, burst: int, prefix: str) -> None:
        import redis.asyncio as redis_asyncio

        self.rate = rate
        self.burst = burst
        self.prefix = prefix
        self._client = redis_asyncio.Redis.from_url(url)
        self._script = self._client.register_script(_LUA)

    async def allow(self, key: str, cost: int = 1) -> bool:
        if self.rate <= 0:
            return True
        from redis.exceptions import RedisError

        try:
            result = await self._script(
                keys=[f"{self.prefix}{key}"],
                args=[self.rate, self.burst, time.time(), cost],
            )
        except (RedisError, OSError) as exc:
            log.warning("rate limiter unavailable, allowing: %s", exc)
            return True
        return bool(result)

    async def close(self) -> None:
        await self._client.aclose()


def bucket_for(
    *, redis_url: str, rate: float, burst: int, prefix: str = "smtpd:rl:"
) -> LocalBucket | RedisBucket:
    """The per-token bucket the settings ask for."""
    if redis_url:
        return RedisBucket(url=redis_url, rate=rate, burst=burst, prefix=prefix)
    return LocalBucket(rate=rate, burst=burst)


class LocalFailureCounter:
    """Fixed-window failure counts per key, in this process only."""

    def __init__(self, *, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._state: dict[str, tuple[int, float]] = {}

    async def blocked(self, key: str) -> bool:
        if self.limit <= 0:
            return False
        count, until = self._state.get(key, (0, 0.0))
        return count >= self.limit and time.monotonic() < until

    async def failed(self, key: str) -> None:
        if self.limit <= 0:
            return
        now = time.monotonic()
        count, until = self._state.get(key, (0, 0.0))
        if now >= until:
            count, until = 0, now + self.window
        self._state[key] = (count + 1, until)
        if len(self._state) > 100_000:  # forget old windows; they expire anyway
            self._state.clear()

    async def close(self) -> None:
        return None


class RedisFailureCounter:
    """Fixed-window failure counts per key in Redis, shared by every smtpd
    process. Fails open like ``RedisBucket``."""

    def __init__(self, *, url: str, limit: int, window: float, prefix: str) -> None:
        import redis.asyncio as redis_asyncio

        self.limit = limit
        self.window = max(1, int(window))
        self.prefix = prefix
        self._client = redis_asyncio.Redis.from_url(url)

    async def blocked(self, key: str) -> bool:
        if self.limit <= 0:
            return False
        from redis.exceptions import RedisError

        try:
            count = await self._client.get(f"{self.prefix}{key}")
        except (RedisError, OSError) as exc:
            log.warning("auth failure counter unavailable, allowing: %s", exc)
            return False
        return int(count or 0) >= self.limit

    async def failed(self, key: str) -> None:
        if self.limit <= 0:
            return
        from redis.exceptions import RedisError

        name = f"{self.prefix}{key}"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, self.window, nx=True)  # window from 1st failure
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("auth failure counter unavailable: %s", exc)

    async def close(self) -> None:
        await self._client.aclose()


def failure_counter_for(
    *, redis_url: str, limit: int, window: float, prefix: str = "smtpd:authfail:"
) -> LocalFailureCounter | RedisFailureCounter:
    """The per-IP AUTH failure counter the settings ask for."""
    if redis_url and limit > 0:
        return RedisFailureCounter(
            url=redis_url, limit=limit, window=window, prefix=prefix
        )
    return LocalFailureCounter(limit=limit, window=window)
