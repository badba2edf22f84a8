"""The sender pool: routes parsed from ``SENDER_POOL`` and their shared health.

``SENDER_POOL`` is a comma-separated list of route URLs::

    smtp://user:pass@relay1.example:587?tls=required&weight=2
    smtp://127.0.0.1:2625
    mx://?helo=mail.example.com&source=203.0.113.5&port=25

``smtp://`` relays every message through one smarthost; ``mx://`` delivers
directly to each recipient domain's MX hosts (``messages.mx``). Routes are
chosen by weight among the routes that are up.

Health: a route that refuses connections, times out or answers 421 is marked
down for a cooldown that doubles on each consecutive failure (capped). The state
lives where every worker process sees it: Redis when ``REDIS_URL`` is set, else
the ``RouteHealth`` table. Once the cooldown expires the route gets traffic again
(a probe); one success resets it.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

logger = logging.getLogger(__name__)

TLS_MODES = ("required", "opportunistic", "none")


@dataclass(frozen=True)
class Route:
    """One way out. ``name`` is unique in the pool and never contains secrets."""

    name: str
    kind: str  # "smtp" (smarthost) or "mx" (direct delivery)
    host: str = ""
    port: int = 25
    username: str = ""
    password: str = field(default="", repr=False)
    tls: str = "opportunistic"
    weight: int = 1
    helo: str = ""
    source: str = ""  # local address to bind (direct delivery from a chosen IP)


def route_parse(url: str) -> Route:
    """Parse one route URL; raises ``ImproperlyConfigured`` with the reason."""
    parts = urlsplit(url.strip())
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"tls", "weight", "helo", "source", "port"}
    if unknown:
        raise ImproperlyConfigured(f"SENDER_POOL route {url!r}: unknown {unknown}")
    tls = query.get("tls", "opportunistic")
    if tls not in TLS_MODES:
        raise ImproperlyConfigured(
            f"SENDER_POOL route {url!r}: tls must be {TLS_MODES}"
        )
    try:
        weight = int(query.get("weight", "1"))
        port = parts.port or int(query.get("port", "25"))
    except ValueError as exc:
        raise ImproperlyConfigured(f"SENDER_POOL route {url!r}: {exc}") from exc
    if weight < 1:
        raise ImproperlyConfigured(f"SENDER_POOL route {url!r}: weight must be ≥ 1")
    common = {
        "tls": tls,
        "weight": weight,
        "helo": query.get("helo", ""),
        "source": query.get("source", ""),
        "port": port,
    }
    if parts.scheme == "smtp":
        if not parts.hostname:
            raise ImproperlyConfigured(f"SENDER_POOL route {url!r}: missing host")
        return Route(
            name=f"smtp://{parts.hostname}:{port}",
            kind="smtp",
            host=parts.hostname,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            **common,
        )
    if parts.scheme == "mx":
        label = common["source"] or common["helo"] or "default"
        return Route(name=f"mx://{label}", kind="mx", **common)
    raise ImproperlyConfigured(
        f"SENDER_POOL route {url!r}: scheme must be smtp:// or mx://"
    )


def pool_parse(spec: str) -> list[Route]:
    """Parse a whole ``SENDER_POOL`` value. Duplicate names get ``#2``, ``#3``…
    (two accounts on one relay are two routes)."""
    routes: list[Route] = []
    seen: dict[str, int] = {}
    for url in spec.split(","):
        if not url.strip():
            continue
        route = route_parse(url)
        seen[route.name] = seen.get(route.name, 0) + 1
        if seen[route.name] > 1:
            route = Route(
                **{**route.__dict__, "name": f"{route.name}#{seen[route.name]}"}
            )
        routes.append(route)
    if not routes:
        raise ImproperlyConfigured("SENDER_POOL is empty")
    return routes


@lru_cache(maxsize=8)
def _pool_cached(spec: str) -> tuple[Route, ...]:
    return tuple(pool_parse(spec))


def pool_routes() -> list[Route]:
    """The configured routes (parsed once per distinct ``SENDER_POOL`` value)."""
    return list(_pool_cached(settings.SENDER_POOL))


# --- Health -----------------------------------------------------------------------


@dataclass
class RouteState:
    """Health of one route as every process sees it."""

    name: str
    failures: int = 0  # consecutive failures; 0 = healthy
    down_until: float = 0.0  # epoch seconds
    last_error: str = ""
    last_failure_at: float = 0.0
    last_success_at: float = 0.0

    def is_up(self, now: float | None = None) -> bool:
        return self.down_until <= (time.time() if now is None else now)

    def as_json(self, now: float | None = None) -> dict[str, object]:
        now = time.time() if now is None else now

        def iso(ts: float) -> str | None:
            return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None

        return {
            "Name": self.name,
            "Up": self.is_up(now),
            "ConsecutiveFailures": self.failures,
            "DownUntil": iso(self.down_until) if self.down_until > now else None,
            "LastError": self.last_error,
            "LastFailureAt": iso(self.last_failure_at),
            "LastSuccessAt": iso(self.last_success_at),
        }


def cooldown_seconds(failures: int) -> float:
    """Cooldown after the n-th consecutive failure: base × 2^(n-1), capped."""
    base = settings.DELIVERY_ROUTE_COOLDOWN_SECONDS
    return float(
        min(
            base * 2 ** max(failures - 1, 0),
            settings.DELIVERY_ROUTE_COOLDOWN_MAX_SECONDS,
        )
    )


class HealthStore(Protocol):
    def states(self, names: list[str]) -> dict[str, RouteState]: ...
    def record_failure(self, name: str, error: str) -> RouteState: ...
    def record_success(self, name: str) -> None: ...


class RedisHealthStore:
    """One Redis hash per route: ``pmc:route:<name>``."""

    PREFIX = "pmc:route:"

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2, decode_responses=True)

    def states(self, names: list[str]) -> dict[str, RouteState]:
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.PREFIX + name)
        out = {}
        for name, raw in zip(names, pipe.execute(), strict=True):
            out[name] = RouteState(
                name=name,
                failures=int(raw.get("failures", 0)),
                down_until=float(raw.get("down_until", 0)),
                last_error=raw.get("last_error", ""),
                last_failure_at=float(raw.get("last_failure_at", 0)),
                last_success_at=float(raw.get("last_success_at", 0)),
            )
        return out

    def record_failure(self, name: str, error: str) -> RouteState:
        key = self.PREFIX + name
        failures = int(self.redis.hincrby(key, "failures", 1))
        now = time.time()
        down_until = now + cooldown_seconds(failures)
        self.redis.hset(
            key,
            mapping={
                "down_until": down_until,
                "last_error": error[:500],
                "last_failure_at": now,
            },
        )
        return RouteState(name, failures, down_until, error[:500], now)

    def record_success(self, name: str) -> None:
        self.redis.hset(
            self.PREFIX + name,
            mapping={"failures": 0, "down_until": 0, "last_success_at": time.time()},
        )


class DatabaseHealthStore:
    """The ``RouteHealth`` table, for installs without Redis (SQLite ``make run``)."""

    def states(self, names: list[str]) -> dict[str, RouteState]:
        from .models import RouteHealth

        rows = {r.name: r for r in RouteHealth.objects.filter(name__in=names)}
        out = {}
        for name in names:
            row = rows.get(name)
            out[name] = (
                RouteState(
                    name=name,
                    failures=row.failures,
                    down_until=row.down_until.timestamp() if row.down_until else 0.0,
                    last_error=row.last_error,
                    last_failure_at=_ts(row.last_failure_at),
                    last_success_at=_ts(row.last_success_at),
                )
                if row
                else RouteState(name=name)
            )
        return out

    def record_failure(self, name: str, error: str) -> RouteState:
        from .models import RouteHealth

        now = datetime.now(UTC)
        with transaction.atomic():
            row, _ = RouteHealth.objects.select_for_update().get_or_create(name=name)
            row.failures += 1
            row.down_until = datetime.fromtimestamp(
                now.timestamp() + cooldown_seconds(row.failures), UTC
            )
            row.last_error = error[:500]
            row.last_failure_at = now
            row.save()
        return RouteState(
            name,
            row.failures,
            row.down_until.timestamp(),
            row.last_error,
            now.timestamp(),
        )

    def record_success(self, name: str) -> None:
        from .models import RouteHealth

        now = datetime.now(UTC)
        updated = RouteHealth.objects.filter(name=name).update(
            failures=0, down_until=None, last_success_at=now
        )
        if not updated:
            RouteHealth.objects.get_or_create(
                name=name, defaults={"last_success_at": now}
            )


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value else 0.0


def health_store() -> HealthStore:
    """Redis when ``REDIS_URL`` is configured, else the database."""
    if settings.REDIS_URL:
        return _redis_store(settings.REDIS_URL)
    return DatabaseHealthStore()


@lru_cache(maxsize=4)
def _redis_store(url: str) -> RedisHealthStore:
    return RedisHealthStore(url)


class RouteTracker:
    """Per-batch view of the pool: which routes are usable, with health writes.

    Reads every route's state once per batch (one Redis round trip) and writes
    only on change (a failure, or the first success after failures), so a healthy
    pool costs one read per batch.
    """

    def __init__(
        self, routes: list[Route] | None = None, store: HealthStore | None = None
    ) -> None:
        self.routes = routes if routes is not None else pool_routes()
        self.store = store or health_store()
        self.states = self.store.states([r.name for r in self.routes])
        self.failed_now: set[str] = set()

    def choose(self, *, exclude: set[str] | None = None) -> Route | None:
        """A weighted random pick among routes that are up and not excluded."""
        now = time.time()
        exclude = (exclude or set()) | self.failed_now
        candidates = [
            r
            for r in self.routes
            if r.name not in exclude and self.states[r.name].is_up(now)
        ]
        if not candidates:
            return None
        return random.choices(candidates, weights=[r.weight for r in candidates])[0]

    def failure(self, route: Route, error: str) -> None:
        self.failed_now.add(route.name)
        self.states[route.name] = self.store.record_failure(route.name, error)
        logger.warning(
            "route down: %s for %.0fs after %d failure(s): %s",
            route.name,
            self.states[route.name].down_until - time.time(),
            self.states[route.name].failures,
            error,
        )

    def success(self, route: Route) -> None:
        state = self.states[route.name]
        if state.failures or not state.last_success_at:
            self.store.record_success(route.name)
            state.failures = 0
            state.down_until = 0.0
            state.last_success_at = time.time()

    def next_up_at(self) -> float:
        """Epoch seconds when the first route comes back (for waiting messages)."""
        return min(self.states[r.name].down_until for r in self.routes)


def pool_status() -> list[dict[str, object]]:
    """Every route with its health, for the admin page and ``GET /health/routes``.
    Never includes credentials."""
    routes = pool_routes()
    states = health_store().states([r.name for r in routes])
    out = []
    for route in routes:
        item: dict[str, object] = {
            "Kind": route.kind,
            "Weight": route.weight,
            "Tls": route.tls,
        }
        item.update(states[route.name].as_json())
        out.append(item)
    return out
