"""Bounded memory of recently scored ids, so a duplicate sent by a producer is not scored twice."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RecentIds:
    """At most `max_size` ids, each remembered for `ttl_s` seconds (oldest evicted first)."""

    def __init__(self, max_size: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_size, self._ttl, self._clock = max_size, ttl_s, clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now and len(self._seen) <= self._max_size:
                break
            del self._seen[key]

    def __contains__(self, item_id: str) -> bool:
        now = self._clock()
        self._expire(now)
        expires = self._seen.get(item_id)
        return expires is not None and expires > now

    def add(self, item_id: str) -> None:
        if self._max_size == 0:
            return
        now = self._clock()
        self._seen[item_id] = now + self._ttl
        self._seen.move_to_end(item_id)
        self._expire(now)
