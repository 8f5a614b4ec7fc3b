"""The embedded source: replays a JSONL feed from a file, in order, as if it came from Kafka."""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from finsent.contracts.batch import Batch, RawRecord


class ReplaySource:
    """Every line of `path` is one record (offset = line number). `done` is set once all are read."""

    topic = "sample-feed"

    def __init__(self, path: Path, *, max_batch: int) -> None:
        self._lines = path.read_bytes().splitlines()
        self._max_batch = max_batch
        self._next = 0
        # Stands in for Kafka's record timestamps (see feed_clock).
        self._timestamp_ms = feed_clock(self._lines, int(datetime.now().timestamp() * 1000))
        self.committed = 0
        self.done = threading.Event()

    def __len__(self) -> int:
        return len(self._lines)

    def next_batch(self, stop: threading.Event, busy: Callable[[], bool] | None = None) -> Batch:
        start, end = self._next, min(self._next + self._max_batch, len(self._lines))
        self._next = end
        if end >= len(self._lines):
            self.done.set()
        return Batch(
            [
                RawRecord(self.topic, 0, i, None, self._lines[i], self._timestamp_ms[i])
                for i in range(start, end)
            ]
        )

    def commit(self, batch: Batch) -> None:
        offsets = batch.next_offsets()
        if offsets:
            self.committed = max(offsets.values())

    def rewind(self, batch: Batch) -> None:
        if batch.records:
            self._next = min(r.offset for r in batch.records)
            self.done.clear()

    def revocations(self) -> int:
        return 0  # one reader, nothing to hand over

    def reachable(self) -> bool:
        return True

    def lag(self) -> int | None:
        return len(self._lines) - self._next

    def close(self) -> None:
        pass


CLOCK_BLOCK = 50  # lines
CLOCK_RANK = 5  # the 5th latest time around a line: a few poisoned dates cannot reach it


def feed_clock(lines: Sequence[bytes], default_ms: int) -> list[int]:
    """A record timestamp for each line of a recorded feed, as the broker would have stamped it had
    the feed arrived live: about the latest time of the items around it (a block of lines and its
    neighbours), ignoring the few latest so that a far-future item does not set it. Lines with no
    readable time get their block's; a feed with none at all gets `default_ms` (now)."""
    times = [_published_ms(line) for line in lines]
    out: list[int] = []
    for start in range(0, len(lines), CLOCK_BLOCK):
        near = [t for t in times[max(0, start - CLOCK_BLOCK) : start + 2 * CLOCK_BLOCK] if t is not None]
        ranked = heapq.nlargest(CLOCK_RANK, near)
        ref = ranked[-1] if ranked else default_ms
        out += [ref] * len(lines[start : start + CLOCK_BLOCK])
    return out


def _published_ms(line: bytes) -> int | None:
    try:
        obj = json.loads(line)
        at = datetime.fromisoformat(obj["published_at"])
        return int(at.timestamp() * 1000) if at.tzinfo is not None else None
    except Exception:  # any unreadable line: validation dead-letters it later, with its reason
        return None
