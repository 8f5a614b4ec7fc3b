"""Keeps a broker outage to a few log lines.

While a broker is down, kafka-python logs connection failures at ERROR several times a second (one
line per reconnect attempt, per client). Those lines say one thing: the broker is unreachable. This
filter, on the handler, turns every kafka-python record above WARNING into a WARNING, lets the first
of each kind through, and then at most one reminder per kind a minute, saying how many were held
back. FinSent's own lines pass untouched."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

REMIND_S = 60.0
MAX_KINDS = 1_000  # bounded: kinds are message templates, but a library could format its own


class LibraryLogThrottle(logging.Filter):
    def __init__(
        self,
        prefixes: tuple[str, ...] = ("kafka",),
        remind_s: float = REMIND_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._prefixes, self._remind_s, self._clock = prefixes, remind_s, clock
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefixes):
            return True
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, str(record.msg))
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._remind_s:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        if len(self._last) >= MAX_KINDS and kind not in self._last:
            self._last.clear()
            self._held.clear()
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        if held:
            record.msg = f"{record.msg} ({held} similar lines held back in the last {self._remind_s:.0f}s)"
        return True


def install(handler_owner: logging.Logger | None = None) -> LibraryLogThrottle:
    """Adds the throttle to every handler of the root logger (or of `handler_owner`)."""
    throttle = LibraryLogThrottle()
    for handler in (handler_owner or logging.getLogger()).handlers:
        handler.addFilter(throttle)
    return throttle
