"""A run of consecutive failures of one loop (a broker outage, most often): its length, the back-off
before the next try, and when to say so in the log: the first failure says what happened, then a
reminder about once a minute, not a line per retry; the first success after it says how long it was.
The scorer's delivery, the aggregator's step and the webhook dispatcher share it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

REMIND_S = 60.0


class FailureStreak:
    def __init__(
        self,
        log: logging.Logger,
        *,
        max_backoff_s: float,
        remind_s: float = REMIND_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log, self._max_backoff_s, self._remind_s, self._clock = log, max_backoff_s, remind_s, clock
        self.count = 0
        self._logged_at = 0.0

    def failed(self, message: str, *args: object) -> float:
        """Count one failure; log `message % (*args, count, delay)` when due; return the back-off
        in seconds (1, 2, 4, … up to max_backoff_s)."""
        self.count += 1
        delay = min(2.0 ** (self.count - 1), self._max_backoff_s)
        now = self._clock()
        if self.count == 1 or now - self._logged_at >= self._remind_s:
            self._logged_at = now
            self._log.warning(message, *args, self.count, delay)
        return delay

    def succeeded(self, message: str) -> None:
        """End the streak, if there was one, with `message % count`."""
        if self.count:
            self._log.warning(message, self.count)
        self.count = 0
