"""Webhook delivery from the alerts topic, at least once.

Alert events are durable on `finsent.alerts`; this is a consumer group on that topic (its own,
`FINSENT_WEBHOOK_GROUP_ID`) that POSTs each event, signed, to every configured URL and commits an
event's offset only once every URL has answered 2xx. A receiver that is down or slow delays its
notifications, never loses them: the event is retried with exponential backoff (up to
`webhook_backoff_max` between tries) for as long as the event is younger than `webhook_max_age`;
the partition is paused meanwhile, so later events wait behind it and arrive in order. Deliveries
that can never succeed go to a dead-letter topic with the reason: a 4xx other than 408 and 429
(`rejected`), an event older than the maximum age (`expired`), a record that is not an alert event
(`invalid_event`). A crash, a rebalance or a failed step (a dead letter not acknowledged)
re-delivers what was not committed: receivers de-duplicate by `alert_id` + `status` + `severity`.
The poll-commit-back-off loop is kafka/consumer_loop.py's.

The POST body is the record's value as the aggregator produced it, so the signature is over
exactly the bytes on the topic."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from pydantic import ValidationError

from finsent.alerts.webhook import OK, REJECT, WebhookMetrics, post_signed, safe_url
from finsent.contracts.alert import AlertEvent
from finsent.kafka.client import (
    GroupOptions,
    Partition,
    Producer,
    new_consumer,
    new_producer,
    produce_and_wait,
)
from finsent.kafka.consumer_loop import ConsumerLoop, Handled, Polled, StepDefaults
from finsent.kafka.security import Bootstrap
from finsent.observability.failure_streak import FailureStreak

log = logging.getLogger(__name__)


class WebhookDispatcher(StepDefaults):
    def __init__(
        self,
        bootstrap: Bootstrap,
        alerts_topic: str,
        group_id: str,
        urls: Sequence[str],
        secret: bytes | None,
        metrics: WebhookMetrics,
        *,
        dlq_topic: str,
        max_age_s: float = 86_400.0,
        backoff_s: float = 0.5,
        backoff_max_s: float = 300.0,
        timeout_s: float = 5.0,
        timeouts: GroupOptions | None = None,
    ) -> None:
        self._urls, self._secret, self._metrics = list(urls), secret, metrics
        self._dlq_topic, self._max_age = dlq_topic, max_age_s
        self._backoff, self._backoff_max = backoff_s, backoff_max_s
        self._bootstrap = bootstrap
        self._client = httpx.Client(timeout=timeout_s)
        self.consumer = new_consumer(
            bootstrap,
            f"finsent-webhooks-{group_id}",
            group_id=group_id,
            options=timeouts,
            auto_offset_reset="earliest",
            max_poll_records=100,
        )
        self._producer: Producer | None = None
        # Per (partition, offset) of an event being retried: the URLs that have not taken it yet.
        self._remaining: dict[tuple[Partition, int], set[str]] = {}
        self._retry_at: dict[Partition, float] = {}
        self._delay: dict[Partition, float] = {}
        self._lock = threading.Lock()
        failures = FailureStreak(log, max_backoff_s=30.0)
        self._loop = ConsumerLoop(
            self.consumer, [alerts_topic], self, failures, name="webhook delivery", log=log
        )

    # -- one event ---------------------------------------------------------------------------------
    def _deliver(self, tp: Partition, offset: int, value: bytes) -> bool:
        """True when the event is done with (delivered everywhere, or dead-lettered)."""
        try:
            event = AlertEvent.model_validate_json(value)
        except ValidationError as exc:
            self._dead_letter(tp, offset, value, "invalid_event", str(exc)[:500], None)
            return True
        age = (datetime.now(UTC) - event.generated_at.astimezone(UTC)).total_seconds()
        key = (tp, offset)
        remaining = self._remaining.get(key, set(self._urls))
        if age > self._max_age:
            for url in sorted(remaining):
                self._dead_letter(tp, offset, value, "expired", f"undelivered after {age:.0f}s", url)
            self._remaining.pop(key, None)
            return True
        for url in sorted(remaining):
            outcome = post_signed(self._client, url, value, self._secret, self._metrics)
            if outcome == OK:
                remaining.discard(url)
            elif outcome == REJECT:
                self._dead_letter(tp, offset, value, "rejected", "the receiver answered a 4xx", url)
                remaining.discard(url)
        if remaining:
            self._remaining[key] = remaining
            return False
        self._remaining.pop(key, None)
        return True

    def _dead_letter(
        self, tp: Partition, offset: int, value: bytes, reason: str, detail: str, url: str | None
    ) -> None:
        if self._producer is None:
            self._producer = new_producer(self._bootstrap, "finsent-webhooks")
        record = {
            "reason": reason,
            "detail": detail,
            "url": safe_url(url) if url else None,
            "topic": tp.topic,
            "partition": tp.partition,
            "offset": offset,
            "event": value.decode("utf-8", "replace"),
            "failed_at": datetime.now(UTC).isoformat(),
        }
        produce_and_wait(
            self._producer,
            [(self._dlq_topic, None, json.dumps(record).encode())],
            timeout_s=30,
            what="dead letter",
        )
        self._metrics.dropped.labels(reason=reason).inc()
        log.error(
            "webhook %s: alert event at %s:%d dead-lettered (%s)",
            safe_url(url) if url else "-",
            tp,
            offset,
            reason,
        )

    # -- the step of the consumer loop -------------------------------------------------------------
    def assigned(self, partitions: list[Partition]) -> None:
        log.info("webhook delivery: assigned %d alert partitions", len(partitions))

    def revoked(self, partitions: set[Partition]) -> None:
        # Its new owner delivers from the committed offset.
        with self._lock:
            for key in [k for k in self._remaining if k[0] in partitions]:
                del self._remaining[key]
            for tp in partitions:
                self._retry_at.pop(tp, None)
                self._delay.pop(tp, None)

    def before_poll(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [tp for tp, at in self._retry_at.items() if at <= now]
            for tp in due:
                del self._retry_at[tp]
        owned = self.consumer.assignment()
        due = [tp for tp in due if tp in owned]
        if due:
            self.consumer.resume(*due)

    def step(self, timeout_ms: int = 500) -> int:
        """One poll: deliver, dead-letter or hold back each event, then commit what is done."""
        return self._loop.poll_once(timeout_ms)

    def handle(self, polled: Polled) -> Handled:
        commits: dict[Partition, int] = {}
        n = 0
        for tp, records in polled.items():
            for r in records:
                if not self._deliver(tp, r.offset, r.value):
                    self._hold_back(tp, r.offset)
                    break
                self._delay.pop(tp, None)
                commits[tp] = r.offset + 1
                n += 1
        self._metrics.queue_depth.set(len(self._remaining))
        return Handled(n, commits)

    def _hold_back(self, tp: Partition, offset: int) -> None:
        """Pause the partition at an event some URL has not taken yet, until its retry is due."""
        delay = self._delay.get(tp, self._backoff)
        self._delay[tp] = min(delay * 2, self._backoff_max)
        self.consumer.seek(tp, offset)
        self.consumer.pause(tp)
        with self._lock:
            self._retry_at[tp] = time.monotonic() + delay
        # The first failure, then a reminder at each try once the backoff is at its cap.
        if delay >= self._backoff_max or delay == self._backoff:
            log.warning(
                "webhook delivery of the alert at %s:%d failed; next try in %.1fs (backoff up to %.0fs) "
                "until it is %.0fh old",
                tp,
                offset,
                delay,
                self._backoff_max,
                self._max_age / 3600,
            )

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop`; a broker outage backs off, and nothing uncommitted is lost."""
        self._loop.run(stop)

    def close(self) -> None:
        self._loop.close()
        if self._producer is not None:
            self._producer.close(timeout=5)
        self._client.close()
