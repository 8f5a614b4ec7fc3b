"""The one consumer loop of FinSent's consumer groups: the aggregator, webhook delivery and the label
ingest.

Each of them polls, does its work on what was polled, and commits only the offsets of what it has
safely done; each survives a broker outage by backing off and trying again from what it had not
committed. That shape is written here once; what differs is a `LoopStep`:

- `handle(polled)` does the work and returns how many records it handled and the offsets to commit
  (the next offset to read, per partition; empty or None commits nothing);
- `before_poll()` runs first, in the polling thread (the dispatcher resumes partitions whose retry is
  due);
- `recover(exc)` runs after a failed step, before the back-off (the aggregator rebuilds its state);
- `assigned(partitions)` / `revoked(partitions)` come from the rebalance listener: they may run on
  kafka-python's IO thread, so they only record what changed.

A failed step never loses records: every partition of the batch it was given is sought back to the
batch's first offset, so the batch is read again once the failure passes (at least once: a step that
had produced part of its output produces it again, and every consumer of FinSent's topics
de-duplicates). Nothing after the failure is committed before it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from finsent.kafka.client import Partition, RebalanceCallbacks, commit

__all__ = ["Backoff", "ConsumerLoop", "Handled", "LoopStep", "Polled", "StepDefaults"]

Polled: TypeAlias = Mapping[Partition, Sequence[ConsumerRecord]]


@dataclass(frozen=True)
class Handled:
    """What a step did with one poll: records handled, and the offsets it may commit."""

    count: int = 0
    commit: Mapping[Partition, int] = field(default_factory=dict)


class LoopStep(Protocol):
    def before_poll(self) -> None: ...

    def handle(self, polled: Polled) -> Handled: ...

    def recover(self, exc: Exception) -> None: ...

    def assigned(self, partitions: list[Partition]) -> None: ...

    def revoked(self, partitions: set[Partition]) -> None: ...


class StepDefaults:
    """No-op hooks, for a step that needs only `handle`."""

    def before_poll(self) -> None:
        return None

    def recover(self, exc: Exception) -> None:
        return None

    def assigned(self, partitions: list[Partition]) -> None:
        return None

    def revoked(self, partitions: set[Partition]) -> None:
        return None


class Backoff(Protocol):
    """A run of failures (observability.failure_streak.FailureStreak): `failed` logs when due and
    returns the seconds to wait; `succeeded` ends the run."""

    def failed(self, message: str, *args: object) -> float: ...

    def succeeded(self, message: str) -> None: ...


class ConsumerLoop:
    def __init__(
        self,
        consumer: KafkaConsumer,
        topics: Sequence[str],
        step: LoopStep,
        failures: Backoff,
        *,
        name: str,
        log: logging.Logger,
    ) -> None:
        self.consumer, self._step, self._failures = consumer, step, failures
        self._name, self._log = name, log
        listener = RebalanceCallbacks(on_revoked=step.revoked, on_assigned=step.assigned)
        consumer.subscribe(list(topics), listener=listener)

    def poll_once(self, timeout_ms: int = 500) -> int:
        """One poll, the step's work on it, and the commit of what the step acknowledged. Raises what
        the step or Kafka raised, after the step's `recover` and with the batch sought back."""
        polled: Polled = {}
        try:
            self._step.before_poll()
            polled = self.consumer.poll(timeout_ms=timeout_ms)
            handled = self._step.handle(polled)
            commit(self.consumer, handled.commit)
        except Exception as exc:
            self._rewind(polled)
            self._step.recover(exc)
            raise
        return handled.count

    def _rewind(self, polled: Polled) -> None:
        owned = self.consumer.assignment()
        for tp, records in polled.items():
            if records and tp in owned:  # a revoked partition is read by its new owner instead
                self.consumer.seek(tp, records[0].offset)

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set; a failure backs off (1, 2, 4 … seconds) and tries again."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                delay = self._failures.failed(
                    f"{self._name} paused (%s); %d failed attempts so far, retrying in %.0fs from the "
                    "committed offsets",
                    exc,
                )
                stop.wait(delay)
            else:
                self._failures.succeeded(f"{self._name} resumed after %d failed attempts")

    def close(self) -> None:
        self.consumer.close(autocommit=False)
