"""The embedded source: replays a JSONL feed from a file, in order, as if it came from Kafka."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from finsent.pipeline.batching import Batch
from finsent.pipeline.records import RawRecord


class ReplaySource:
    """Every line of `path` is one record (offset = line number). `done` is set once all are read."""

    topic = "sample-feed"

    def __init__(self, path: Path, *, max_batch: int) -> None:
        self._lines = path.read_bytes().splitlines()
        self._max_batch = max_batch
        self._next = 0
        # Stands in for Kafka's record timestamp; an item's own published_at wins in validation.
        self._timestamp_ms = int(datetime.now().timestamp() * 1000)
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
            [RawRecord(self.topic, 0, i, None, self._lines[i], self._timestamp_ms) for i in range(start, end)]
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

    def lag(self) -> int | None:
        return len(self._lines) - self._next

    def close(self) -> None:
        pass
