"""The event time up to which every partition has delivered: the aggregator's safe clock.

Stream processors take the slowest input's newest event time as their watermark. Two cases make
that subtle here: a partition that was just assigned and has not delivered yet (its minutes may still
come: it holds the clock), and a partition with nothing to deliver (after `idle_s` without records it
stops holding the others back, or an empty partition would stop all alerts).

A partition is in offset order, not always in event-time order (several producers, a backlog
re-published): the clock stays `lateness_s` behind the slowest partition's newest event, so items
that arrive at most that far out of order are counted before their minute is assessed, and what
fires does not depend on their order. Once every partition is idle nothing more is coming: the
clock then goes to the newest event of all."""

from __future__ import annotations

from collections.abc import Hashable, Iterable


class PartitionClock:
    def __init__(self, idle_s: float, lateness_s: float = 0.0) -> None:
        if lateness_s < 0:
            raise ValueError(f"lateness_s must be >= 0, got {lateness_s}")
        self._idle_s = idle_s
        self._lateness_s = lateness_s
        self._time: dict[Hashable, float] = {}  # a partition's newest event time
        self._seen_at: dict[Hashable, float] = {}  # when it last delivered (or was assigned)

    def assigned(self, partitions: Iterable[Hashable], now: float, empty: Iterable[Hashable] = ()) -> None:
        """A new assignment: each partition has `idle_s` to deliver before it stops holding the
        clock, except the `empty` ones (nothing between their start and end offsets: nothing to
        wait for), which are idle from the start and hold it only once they deliver."""
        self._time = {}
        self._seen_at = dict.fromkeys(partitions, now)
        for p in empty:
            self._seen_at[p] = now - self._idle_s

    def delivered(self, partition: Hashable, event_time: float | None, now: float) -> None:
        """Records arrived from `partition`; `event_time`: the newest among them, or None when none was
        usable (then it counts as silence: unreadable records must not hold the clock forever)."""
        if event_time is None:
            return
        self._time[partition] = max(self._time.get(partition, event_time), event_time)
        self._seen_at[partition] = now

    def safe_time(self, now: float, clock: float) -> float | None:
        """Event time up to which topics may be assessed: `clock` (no advance) while an assigned
        partition has not delivered yet and is not idle; else the slowest active partition's newest
        event less the allowed lateness; with every partition idle, the newest event of all (None
        when there is none)."""
        fresh = [p for p, at in self._seen_at.items() if now - at < self._idle_s]
        if any(p not in self._time for p in fresh):
            return clock
        active = [self._time[p] for p in fresh]
        if active:
            return min(active) - self._lateness_s
        return max(self._time.values(), default=None)
