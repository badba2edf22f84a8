"""A small per-process TTL cache for hot, rarely-changing lookups on the send path.

The send API looked up the token, the message stream and the sender domains with
one query each on every request (see docs/benchmarks.md, "Send API"). These rows
change rarely, so each web process may keep them for ``LOOKUP_CACHE_SECONDS``.
Saves and deletes through the ORM clear the caches of the process that made them
(``post_save``/``post_delete``); other processes see a change within the TTL.
``LOOKUP_CACHE_SECONDS=0`` disables caching (the test suite's default, so tests
that change rows with ``QuerySet.update()`` see the change at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from django.conf import settings

T = TypeVar("T")

_ALL: list[LookupCache] = []


class LookupCache(Generic[T]):
    """``get(key, load)``: a cached value younger than the TTL, else ``load()``.

    ``None`` results are not cached (a wrong token must not fill memory). The
    cache is cleared whole when it reaches ``max_entries``. Thread-safe.
    """

    def __init__(self, name: str, max_entries: int = 10_000) -> None:
        self.name = name
        self.max_entries = max_entries
        self._data: dict[Hashable, tuple[float, T]] = {}
        self._lock = threading.Lock()
        _ALL.append(self)

    def get(self, key: Hashable, load: Callable[[], T | None]) -> T | None:
        ttl = settings.LOOKUP_CACHE_SECONDS
        if ttl <= 0:
            return load()
        now = time.monotonic()
        hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        if value is not None:
            with self._lock:
                if len(self._data) >= self.max_entries:
                    self._data.clear()
                self._data[key] = (now + ttl, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def clear_all() -> None:
    """Forget every cached lookup in this process."""
    for cache in _ALL:
        cache.clear()
