"""The scorer's source on a real broker: a consumer group handing out micro-batches, with manual
commits (the pipeline commits a batch only after its results are acknowledged)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from finsent.contracts.batch import Batch, RawRecord
from finsent.kafka.client import GroupOptions, Partition, RebalanceCallbacks, commit, new_consumer
from finsent.kafka.security import Bootstrap

log = logging.getLogger(__name__)

IDLE_RETURN_S = 1.0
LAG_TIMEOUT_MS = 5_000
BUSY_POLL_S = 0.02


class KafkaSource:
    """Micro-batches from a consumer group. Auto-commit is off: `commit(batch)` is called by the
    pipeline only after the batch's results are acknowledged by the broker."""

    def __init__(
        self,
        bootstrap: Bootstrap,
        topic: str,
        group_id: str,
        *,
        max_batch: int,
        max_linger_ms: int,
        timeouts: GroupOptions | None = None,
    ) -> None:
        self._max_batch, self._linger_s = max_batch, max_linger_ms / 1000
        self._pending: list[RawRecord] = []
        # Never held while calling the consumer: kafka-python holds its own locks around callbacks.
        self._lock = threading.Lock()
        self._revoked_during_poll: set[Partition] = set()
        self._revocations = 0
        self._reachable = True
        self.consumer = new_consumer(
            bootstrap,
            f"finsent-scorer-{group_id}",
            group_id=group_id,
            options=timeouts,
            auto_offset_reset="earliest",
            max_poll_records=max_batch,
            # Scoring a large batch on a slow CPU can take a while; the group must not evict us.
            max_poll_interval_ms=600_000,
        )
        listener = RebalanceCallbacks(
            on_revoked=self._on_revoked,
            on_assigned=lambda assigned: log.info("assigned %d partitions", len(assigned)),
        )
        self.consumer.subscribe([topic], listener=listener)

    def _on_revoked(self, revoked: set[Partition]) -> None:
        # Called inside poll(): everything scored earlier is already committed, so only records
        # fetched for the batch being filled are affected. The partition's new owner reads them
        # again from the committed offset, so they are dropped here, not scored twice.
        # kafka-python 3 may run this on its IO thread while next_batch() is between polls, hence
        # the lock around every change to the pending list.
        with self._lock:
            if revoked:  # the first join reports an empty revocation
                self._revocations += 1
            self._revoked_during_poll |= revoked
            before = len(self._pending)
            self._pending = [r for r in self._pending if Partition(r.topic, r.partition) not in revoked]
            dropped = before - len(self._pending)
        log.info("partitions revoked: %d; dropped %d unscored records", len(revoked), dropped)

    def next_batch(self, stop: threading.Event, busy: Callable[[], bool] | None = None) -> Batch:
        """Up to `max_batch` records; returns when full, when `max_linger_ms` has passed since the
        first record arrived (and `busy()`, if given, is false: while the scorer is still on the
        previous batch, more records cost no latency), or empty when `stop` is set or nothing came
        for IDLE_RETURN_S (so that the caller's housekeeping, such as lag and progress, runs while
        the topic is quiet)."""
        with self._lock:
            self._pending = []
        first_at: float | None = None
        called_at = time.monotonic()
        while not stop.is_set() and len(self._pending) < self._max_batch:
            if first_at is None:
                if time.monotonic() - called_at >= IDLE_RETURN_S:
                    break
                if busy is not None and not busy():
                    break  # nothing has come and the scorer is free: let it deliver first
                timeout_ms = 500 if busy is None else int(BUSY_POLL_S * 1000)
            else:
                left = self._linger_s - (time.monotonic() - first_at)
                if left <= 0:
                    if busy is None or not busy():
                        break
                    left = BUSY_POLL_S
                timeout_ms = max(1, int(left * 1000))
            with self._lock:
                self._revoked_during_poll = set()
            polled = self.consumer.poll(
                timeout_ms=timeout_ms, max_records=self._max_batch - len(self._pending)
            )
            with self._lock:
                for tp, msgs in polled.items():
                    if tp in self._revoked_during_poll:  # its new owner reads them again
                        continue
                    self._pending.extend(
                        RawRecord(tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp) for m in msgs
                    )
            if self._pending and first_at is None:
                first_at = time.monotonic()
        with self._lock:
            batch, self._pending = Batch(self._pending), []
        return batch

    def revocations(self) -> int:
        return self._revocations

    def commit(self, batch: Batch) -> None:
        commit(
            self.consumer,
            {
                Partition(topic, partition): offset
                for (topic, partition), offset in batch.next_offsets().items()
            },
        )

    def rewind(self, batch: Batch) -> None:
        """Seek back to the batch's first records so that they are read again (retry)."""
        firsts: dict[Partition, int] = {}
        for r in batch.records:
            tp = Partition(r.topic, r.partition)
            firsts[tp] = min(firsts.get(tp, r.offset), r.offset)
        owned = self.consumer.assignment()
        for tp, offset in firsts.items():
            if tp in owned:
                self.consumer.seek(tp, offset)

    def lag(self) -> int | None:
        owned = self.consumer.assignment()
        if not owned:
            return None
        try:
            # Bounded: kafka-python's default request timeout is minutes, and this runs in the loop.
            ends = self.consumer.end_offsets(list(owned), timeout_ms=LAG_TIMEOUT_MS)
        except Exception:  # lag is best-effort telemetry; a failure says the broker is unreachable
            self._reachable = False
            return None
        self._reachable = True
        total = 0
        for tp in owned:
            pos = self.consumer.position(tp)
            total += max(0, ends.get(tp, pos) - pos)
        return total

    def reachable(self) -> bool:
        """False since the last lag query failed (the broker did not answer it in time)."""
        return self._reachable

    def close(self) -> None:
        self.consumer.close(autocommit=False)
