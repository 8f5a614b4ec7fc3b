"""Labels from Kafka: `finsent.labels` -> validate -> the label store (valid) or the labels'
dead-letter topic (invalid, with the reason). At-least-once: a batch's offsets are committed only
after its labels are on disk (fsync) and its dead letters acknowledged; a failure re-reads the batch
from its first offset (the loop is kafka/consumer_loop.py's). A label read twice is stored twice and
counts once (label_store.resolve)."""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, Counter

from finsent.contracts.batch import RawRecord
from finsent.contracts.label import LabelEvent
from finsent.kafka.client import GroupOptions, Producer, new_consumer, new_producer, produce_and_wait
from finsent.kafka.consumer_loop import ConsumerLoop, Handled, Polled, StepDefaults
from finsent.kafka.security import Bootstrap
from finsent.observability.failure_streak import FailureStreak
from finsent.retrain.label_input import parse_label_record
from finsent.retrain.label_store import LabelStore

log = logging.getLogger(__name__)


class LabelMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.ingested = Counter(
            "finsent_labels_ingested",
            "Label events stored, by label",
            ["label"],
            registry=registry,
        )
        self.rejected = Counter(
            "finsent_labels_rejected",
            "Label events sent to the labels' dead-letter topic, by reason",
            ["reason"],
            registry=registry,
        )


class LabelIngester(StepDefaults):
    def __init__(
        self,
        bootstrap: Bootstrap,
        store: LabelStore,
        metrics: LabelMetrics,
        *,
        topic: str,
        dlq_topic: str,
        group_id: str,
        options: GroupOptions | None = None,
    ) -> None:
        self._bootstrap, self._store, self._metrics = bootstrap, store, metrics
        self._dlq_topic = dlq_topic
        self.consumer = new_consumer(
            bootstrap,
            "finsent-labels",
            group_id=group_id,
            options=options,
            auto_offset_reset="earliest",
            max_poll_records=500,
        )
        self._producer: Producer | None = None
        failures = FailureStreak(log, max_backoff_s=30.0)
        self._loop = ConsumerLoop(self.consumer, [topic], self, failures, name="label ingest", log=log)

    def step(self, timeout_ms: int = 500) -> int:
        """Read, validate, store and commit one batch; returns the number of records handled."""
        return self._loop.poll_once(timeout_ms)

    def handle(self, polled: Polled) -> Handled:
        records = [
            RawRecord(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)
            for rs in polled.values()
            for r in rs
        ]
        if not records:
            return Handled()
        self._handle(records)
        return Handled(len(records), {tp: rs[-1].offset + 1 for tp, rs in polled.items() if rs})

    def _handle(self, records: list[RawRecord]) -> None:
        events: list[LabelEvent] = []
        dead = []
        for record in records:
            parsed = parse_label_record(record)
            if isinstance(parsed, LabelEvent):
                events.append(parsed)
            else:
                dead.append((record, parsed))
        if dead:
            if self._producer is None:
                self._producer = new_producer(self._bootstrap, "finsent-labels")
            produce_and_wait(
                self._producer,
                [(self._dlq_topic, r.key, d.model_dump_json().encode()) for r, d in dead],
                timeout_s=30,
                what="label dead letters",
            )
            for r, d in dead:
                self._metrics.rejected.labels(reason=d.reason).inc()
                log.warning(
                    "label event at %s:%d:%d rejected (%s): %s",
                    r.topic,
                    r.partition,
                    r.offset,
                    d.reason,
                    d.detail,
                )
        self._store.append(events)
        for e in events:
            self._metrics.ingested.labels(label=str(e.label)).inc()

    def run(self, stop: threading.Event) -> None:
        """Ingest until `stop`; a failure backs off and reads the batch again."""
        self._loop.run(stop)

    def close(self) -> None:
        self._loop.close()
        if self._producer is not None:
            self._producer.close(timeout=5)
