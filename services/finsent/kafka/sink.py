"""The scorer's sink on a real broker: `write` returns only once the broker acknowledged every
scored item, per-topic score and dead letter of the batch."""

from __future__ import annotations

import logging

from kafka import KafkaProducer

from finsent.contracts.news import DeadLetter, ScoredItem
from finsent.contracts.topic_score import TopicScore
from finsent.kafka.client import new_producer, produce_and_wait
from finsent.kafka.security import Bootstrap

log = logging.getLogger(__name__)


class KafkaSink:
    """Writes scored items, their per-topic scores and dead letters; `write` returns only once all
    are acknowledged."""

    def __init__(
        self,
        bootstrap: Bootstrap,
        scored_topic: str,
        dlq_topic: str,
        *,
        topic_scores_topic: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._scored_topic, self._dlq_topic, self._timeout = scored_topic, dlq_topic, timeout_s
        self._topic_scores_topic = topic_scores_topic
        self._bootstrap = bootstrap
        self.producer = self._new_producer()

    def _new_producer(self) -> KafkaProducer:
        return new_producer(self._bootstrap, "finsent-scorer", timeout_s=self._timeout, linger_ms=5)

    def reset(self) -> None:
        """Abandon the current producer (its unacknowledged records belong to batches that are read
        again) and start a new one."""
        try:
            self.producer.close(timeout=0)
        except Exception as exc:  # it is being thrown away; only a reconnect matters
            log.debug("closing the old producer: %r", exc)
        self.producer = self._new_producer()

    def write(self, scored: list[ScoredItem], topic_scores: list[TopicScore], dead: list[DeadLetter]) -> None:
        records: list[tuple[str, bytes | None, bytes]] = [
            (self._scored_topic, s.id.encode(), s.model_dump_json().encode()) for s in scored
        ]
        if self._topic_scores_topic:
            records += [
                (self._topic_scores_topic, ts.topic.encode(), ts.model_dump_json().encode())
                for ts in topic_scores
            ]
        records += [
            (self._dlq_topic, d.key.encode() if d.key is not None else None, d.model_dump_json().encode())
            for d in dead
        ]
        produce_and_wait(self.producer, records, timeout_s=self._timeout, what="results")

    def close(self) -> None:
        self.producer.close(timeout=10)
