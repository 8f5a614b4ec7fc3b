"""`finsent aggregate --kafka`: a consumer group on the per-topic scores.

Each instance owns the topics of its partitions. On every (re)assignment it rebuilds its state by
re-reading its partitions from one horizon (the longest window) back: records before the committed
offset are applied silently (state only, no alerts), so a restart neither invents a spike nor
forgets one in progress. Offsets are committed after the batch's alerts are acknowledged by Kafka.
"""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from finsent.aggregate.aggregator import Aggregator
from finsent.aggregate.records import TopicScore
from finsent.alerts.contracts import AlertEvent
from finsent.alerts.webhook import WebhookSender
from finsent.pipeline.kafka_io import API_VERSION

log = logging.getLogger(__name__)


class AlertPublisher:
    """Sends alert events to the alerts topic (acknowledged) and to the webhooks (queued)."""

    def __init__(self, producer: KafkaProducer | None, topic: str, webhooks: WebhookSender | None) -> None:
        self._producer, self._topic, self._webhooks = producer, topic, webhooks

    def publish(self, events: list[AlertEvent]) -> None:
        for ev in events:
            log.warning(
                "ALERT %s %s topic=%s negative_share=%.2f baseline=%.2f z=%.1f volume=%d",
                ev.status.upper(),
                ev.severity,
                ev.topic,
                ev.negative_share,
                ev.baseline,
                ev.zscore,
                ev.volume,
            )
        if self._producer is not None and events:
            futures = [
                self._producer.send(self._topic, key=e.topic.encode(), value=e.model_dump_json().encode())
                for e in events
            ]
            self._producer.flush(timeout=30)
            for f in futures:
                f.get(timeout=0)
        if self._webhooks is not None:
            for ev in events:
                self._webhooks.submit(ev)


class _Rebuild(ConsumerRebalanceListener):
    def __init__(self, runner: AggregateRunner) -> None:
        self._runner = runner

    def on_partitions_revoked(self, revoked):  # type: ignore[no-untyped-def]
        pass  # every batch is committed before the next poll: nothing pending here

    def on_partitions_assigned(self, assigned):  # type: ignore[no-untyped-def]
        # Runs on the client's IO thread, where blocking consumer calls are not allowed: the
        # rebuild itself happens on the next step(), in the polling thread.
        self._runner._pending_assignment = list(assigned)


class AggregateRunner:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group_id: str,
        aggregator_factory,
        publisher: AlertPublisher,
        *,
        max_records: int = 2_000,
        idle_s: float = 30.0,
    ) -> None:
        self._factory = aggregator_factory
        self.aggregator: Aggregator = aggregator_factory()
        self._publisher = publisher
        self._replay_until: dict[TopicPartition, int] = {}
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=f"finsent-aggregator-{group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_records,
            api_version=API_VERSION,
        )
        self._pending_assignment: list[TopicPartition] | None = None
        self._next_offset: dict[TopicPartition, int] = {}
        self._partition_time: dict[TopicPartition, float] = {}
        self._partition_seen_at: dict[TopicPartition, float] = {}
        self._idle_s = idle_s
        self.consumer.subscribe([topic], listener=_Rebuild(self))
        self.rejected = 0

    def _rebuild(self, assigned: list[TopicPartition]) -> None:
        self.aggregator = self._factory()  # state for the new assignment is rebuilt from the log
        self._replay_until = {}
        self._partition_time, self._partition_seen_at = {}, {}
        self._next_offset = {}
        since_ms = int((time.time() - self.aggregator.horizon_s - 600) * 1000)
        starts = self.consumer.offsets_for_times({tp: since_ms for tp in assigned}) if assigned else {}
        for tp in assigned:
            committed = self.consumer.committed(tp) or 0
            found = starts.get(tp)
            start = min(found.offset, committed) if found is not None else committed
            self._replay_until[tp] = committed
            self._next_offset[tp] = start
            self.consumer.seek(tp, start)
        log.info(
            "assigned %d partitions; rebuilding state from %s",
            len(assigned),
            {f"{tp.partition}": self._replay_until[tp] for tp in assigned},
        )

    def step(self, timeout_ms: int = 500) -> int:
        polled = self.consumer.poll(timeout_ms=timeout_ms)
        if self._pending_assignment is not None:
            assigned, self._pending_assignment = self._pending_assignment, None
            self._rebuild(assigned)
            return 0  # what was just polled is read again from the rebuild offsets
        if not polled:
            return 0
        replay: list[TopicScore] = []
        live: list[TopicScore] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        n = 0
        for tp, records in polled.items():
            until = self._replay_until.get(tp, 0)
            for r in records:
                n += 1
                try:
                    ev = TopicScore.model_validate_json(r.value)
                except ValidationError:
                    # Written by our own scorer, so this should not happen; it never blocks the stream.
                    self.rejected += 1
                    log.error("unreadable record on %s at %d", tp, r.offset)
                    continue
                (replay if r.offset < until else live).append(ev)
                seen = ev.published_at.timestamp()
                self._partition_time[tp] = max(self._partition_time.get(tp, seen), seen)
            self._partition_seen_at[tp] = time.monotonic()
            self._next_offset[tp] = records[-1].offset + 1
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        until = self._safe_time()
        # While any partition is still re-reading its history, the clock must not move: the topics
        # of the partitions not read yet would be assessed without their data.
        rebuilding = any(self._next_offset.get(tp, 0) < end for tp, end in self._replay_until.items())
        if replay:
            self.aggregator.apply(replay, silent=True, until_s=until, hold=rebuilding)
        alerts = self.aggregator.apply(live, until_s=until, hold=rebuilding)
        self._publisher.publish(alerts)
        commit = {tp: o for tp, o in offsets.items() if o.offset > self._replay_until.get(tp, 0)}
        if commit:
            self.consumer.commit(commit)
        return n

    def _safe_time(self) -> float | None:
        """Event time up to which every partition that is still delivering has delivered: the
        slowest one's newest event. A partition silent for `idle_s` does not hold the others back."""
        now = time.monotonic()
        active = [
            t
            for tp, t in self._partition_time.items()
            if now - self._partition_seen_at.get(tp, 0) < self._idle_s
        ]
        if active:
            return min(active)
        return max(self._partition_time.values(), default=None)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.step()

    def close(self) -> None:
        self.consumer.close(autocommit=False)
