"""`finsent aggregate --kafka`: a consumer group on the per-topic scores.

Each instance owns the topics of its partitions. On every (re)assignment it rebuilds its state by
re-reading its partitions from one horizon (the longest window) back, holding the clock until every
partition has caught up, and then assesses the whole history in event-time order. The alerts that
this produces are compared with what is already on the alerts topic (read back over the same
horizon): those already sent, by this instance before a crash or by another before a rebalance, are
not sent again; those never sent (the backlog of a crashed instance) are. So a restart neither
invents nor repeats a spike, nor loses one. Offsets are committed after the batch's alerts are
acknowledged by Kafka.

Failures (a broker outage, an unacknowledged alert) do not end the process: the consumer loop
(kafka/consumer_loop.py) backs off, and this step rebuilds its producer and its state from the
committed offsets, which re-reads what was not committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import ValidationError

from finsent.aggregate.aggregator import Aggregator, event_time_s
from finsent.aggregate.partition_clock import PartitionClock
from finsent.aggregate.windows import bucket_of
from finsent.alerts.publisher import AlertPublisher, alert_key
from finsent.contracts.alert import AlertEvent
from finsent.contracts.topic_score import TopicScore
from finsent.kafka.client import GroupOptions, Partition, new_consumer, read_since
from finsent.kafka.consumer_loop import ConsumerLoop, Handled, Polled, StepDefaults
from finsent.kafka.security import Bootstrap
from finsent.observability.failure_streak import FailureStreak

log = logging.getLogger(__name__)

REBUILD_MARGIN_S = 600  # read a little more than the horizon: broker and event clocks differ
MAX_SENT_KEYS = 100_000
MAX_BACKOFF_S = 10.0


class AggregateRunner(StepDefaults):
    def __init__(
        self,
        bootstrap: Bootstrap,
        topic: str,
        group_id: str,
        aggregator_factory: Callable[[], Aggregator],
        publisher: AlertPublisher,
        *,
        alerts_topic: str | None = None,
        max_records: int = 2_000,
        idle_s: float = 30.0,
        lateness_s: float = 0.0,
        max_future_s: float = 300.0,
        timeouts: GroupOptions | None = None,
    ) -> None:
        self._factory = aggregator_factory
        self.aggregator: Aggregator = aggregator_factory()
        self._publisher = publisher
        self._bootstrap, self._alerts_topic = bootstrap, alerts_topic
        self._max_future_s = max_future_s
        self.consumer = new_consumer(
            bootstrap,
            f"finsent-aggregator-{group_id}",
            group_id=group_id,
            options=timeouts,
            auto_offset_reset="earliest",
            max_poll_records=max_records,
        )
        self._pending_assignment: list[Partition] | None = None
        self._rebuild_until: dict[Partition, int] = {}
        self._next_offset: dict[Partition, int] = {}
        self._clock = PartitionClock(idle_s, lateness_s)
        self._sent: set[tuple[str, str, str]] = set()
        self._sent_order: deque[tuple[str, str, str]] = deque()
        failures = FailureStreak(log, max_backoff_s=MAX_BACKOFF_S)
        self._loop = ConsumerLoop(self.consumer, [topic], self, failures, name="aggregation", log=log)
        self.rejected = 0
        self.suppressed = 0  # alerts a rebuild re-derived that were already on the alerts topic

    # -- rebuild -----------------------------------------------------------------------------------
    def assigned(self, partitions: list[Partition]) -> None:
        # The rebuild itself happens in the next step, in the polling thread.
        self._pending_assignment = partitions

    def _rebuild(self, assigned: list[Partition]) -> None:
        aggregator = self._factory()  # state for the new assignment is rebuilt from the log
        since_ms = int((time.time() - aggregator.horizon_s - REBUILD_MARGIN_S) * 1000)
        starts = self.consumer.offsets_for_times({tp: since_ms for tp in assigned}) if assigned else {}
        rebuild_until: dict[Partition, int] = {}
        next_offset: dict[Partition, int] = {}
        for tp in assigned:
            committed = self.consumer.committed(tp) or 0
            found = starts.get(tp)
            start = min(found.offset, committed) if found is not None else committed
            rebuild_until[tp], next_offset[tp] = committed, start
        sent = self._read_sent(since_ms)
        for tp, start in next_offset.items():
            self.consumer.seek(tp, start)
        ends = self.consumer.end_offsets(list(assigned)) if assigned else {}
        # A partition with nothing after its start offset has nothing to wait for: without this, an
        # empty partition held every alert for idle_s (30 s) after each (re)start.
        empty = [tp for tp in assigned if ends.get(tp, 0) <= next_offset[tp]]
        self.aggregator, self._rebuild_until, self._next_offset = aggregator, rebuild_until, next_offset
        self._clock.assigned(assigned, time.monotonic(), empty=empty)
        self._sent, self._sent_order = set(sent), deque(sent)
        log.info(
            "assigned %d partitions; rebuilding state from offsets %s (committed %s); %d alert events "
            "already sent in that time",
            len(assigned),
            {tp.partition: next_offset[tp] for tp in assigned},
            {tp.partition: rebuild_until[tp] for tp in assigned},
            len(sent),
        )

    def _read_sent(self, since_ms: int) -> list[tuple[str, str, str]]:
        """The alert events on the alerts topic since `since_ms`, as de-duplication keys."""
        if self._alerts_topic is None:
            return []
        keys = []
        for value in read_since(self._bootstrap, self._alerts_topic, since_ms):
            try:
                keys.append(alert_key(AlertEvent.model_validate_json(value)))
            except ValidationError:
                continue  # not ours to judge here; nothing to de-duplicate against
        return keys[-MAX_SENT_KEYS:]

    def _remember_sent(self, event: AlertEvent) -> None:
        key = alert_key(event)
        if key not in self._sent:
            self._sent.add(key)
            self._sent_order.append(key)
            if len(self._sent_order) > MAX_SENT_KEYS:
                self._sent.discard(self._sent_order.popleft())

    # -- the step of the consumer loop -------------------------------------------------------------
    def step(self, timeout_ms: int = 500) -> int:
        """One poll and what follows from it; raises Kafka trouble after rewinding (see `run`)."""
        return self._loop.poll_once(timeout_ms)

    def recover(self, exc: Exception) -> None:
        self._publisher.reset()
        # Re-read everything uncommitted: the state is rebuilt for the partitions we hold.
        if self._pending_assignment is None:
            self._pending_assignment = list(self.consumer.assignment())

    def handle(self, polled: Polled) -> Handled:
        if self._pending_assignment is not None:
            assigned = self._pending_assignment
            self._rebuild(assigned)
            self._pending_assignment = None
            return Handled()  # what was just polled is read again from the rebuild offsets
        if not polled and not self._clock_can_move():
            return Handled()
        # (An empty poll goes on when the clock can move: a partition that held it went idle.)
        events: list[TopicScore] = []
        n = 0
        for tp, records in polled.items():
            newest: float | None = None
            for r in records:
                n += 1
                try:
                    ev = TopicScore.model_validate_json(r.value)
                except ValidationError:
                    # Written by our own scorer, so this should not happen; it never blocks the stream.
                    self.rejected += 1
                    log.error("unreadable record on %s at %d", tp, r.offset)
                    continue
                ev = self._bounded(ev, r.timestamp)
                events.append(ev)
                newest = max(newest or 0.0, event_time_s(ev))
            self._clock.delivered(tp, newest, time.monotonic())
            self._next_offset[tp] = records[-1].offset + 1
        until = self._clock.safe_time(time.monotonic(), self.aggregator.clock_s)
        # While any partition is still re-reading its history, the clock must not move: the topics
        # of the partitions not read yet would be assessed without their data.
        rebuilding = any(self._next_offset.get(tp, 0) < end for tp, end in self._rebuild_until.items())
        alerts = self.aggregator.apply(events, until_s=until, hold=rebuilding)
        fresh = [a for a in alerts if alert_key(a) not in self._sent]
        self.suppressed += len(alerts) - len(fresh)
        self._publisher.publish(fresh)
        for a in fresh:
            self._remember_sent(a)
        if rebuilding:
            return Handled(n)
        return Handled(n, {tp: o for tp, o in self._next_offset.items() if o > 0})

    def _clock_can_move(self) -> bool:
        until = self._clock.safe_time(time.monotonic(), self.aggregator.clock_s)
        return until is not None and bucket_of(until) > self.aggregator.clock_s

    def _bounded(self, ev: TopicScore, record_ts_ms: int) -> TopicScore:
        """Defence in depth for records from scorers that did not bound event time: none may lie
        further ahead of the time its record was written than the scorer would have allowed."""
        if record_ts_ms is None or record_ts_ms < 0:
            return ev
        latest = record_ts_ms / 1000 + self._max_future_s
        if event_time_s(ev) <= latest:
            return ev
        try:
            return ev.model_copy(update={"event_time": datetime.fromtimestamp(latest, UTC)})
        except (OverflowError, OSError, ValueError):
            return ev

    def run(self, stop: threading.Event) -> None:
        """Aggregate until `stop`; a failed step backs off and rebuilds from the committed offsets."""
        self._loop.run(stop)

    def close(self) -> None:
        self._loop.close()
