"""What the scoring pipeline reads from and writes to: the two protocols its stages are written
against (Kafka's consumer and producer in production, a file and memory in the embedded replay)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from finsent.contracts.batch import Batch
from finsent.contracts.news import DeadLetter, ScoredItem
from finsent.contracts.topic_score import TopicScore

__all__ = ["Sink", "Source"]


class Source(Protocol):
    """Where records come from. `next_batch` keeps filling past the linger time while `busy()` (the
    scorer has not finished the previous batch, so returning early would only wait). `revocations`
    counts partition revocations, so a batch that straddles one can be recognised."""

    def next_batch(self, stop: threading.Event, busy: Callable[[], bool] | None = None) -> Batch: ...
    def commit(self, batch: Batch) -> None: ...
    def rewind(self, batch: Batch) -> None: ...
    def revocations(self) -> int: ...
    def lag(self) -> int | None: ...
    def reachable(self) -> bool: ...
    def close(self) -> None: ...


class Sink(Protocol):
    def write(
        self, scored: list[ScoredItem], topic_scores: list[TopicScore], dead: list[DeadLetter]
    ) -> None: ...
    def reset(self) -> None:
        """Drop whatever the sink holds for a failed write and reconnect: after a broker outage
        a producer can stay stuck expiring old records while the broker is healthy again."""
        ...

    def close(self) -> None: ...
