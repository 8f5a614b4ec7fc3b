"""Publishing alert events: to the alerts topic (acknowledged before `publish` returns) and, in
embedded mode, straight to the webhooks; every event emitted is counted by the caller's hook."""

from __future__ import annotations

import logging
from collections.abc import Callable

from finsent.alerts.webhook import WebhookSender
from finsent.contracts.alert import AlertEvent
from finsent.kafka.client import Producer, produce_and_wait

log = logging.getLogger(__name__)


def alert_key(event: AlertEvent) -> tuple[str, str, str]:
    """What receivers de-duplicate by (documented): one spike's firing, upgrade and resolve differ."""
    return (event.alert_id, event.status, event.severity)


class AlertPublisher:
    """Sends alert events to the alerts topic (acknowledged before it returns) and, in embedded mode,
    straight to the webhooks. On Kafka the webhooks are fed from the alerts topic instead
    (`alerts.dispatcher`), so that a crash or a receiver outage cannot lose a notification."""

    def __init__(
        self,
        producer_factory: Callable[[], Producer] | None,
        topic: str,
        webhooks: WebhookSender | None,
        *,
        on_emitted: Callable[[AlertEvent], None] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._factory, self._topic, self._webhooks = producer_factory, topic, webhooks
        self._producer = producer_factory() if producer_factory else None
        self._on_emitted, self._timeout = on_emitted, timeout_s

    def publish(self, events: list[AlertEvent]) -> None:
        if not events:
            return
        if self._producer is not None:
            records = [(self._topic, e.topic.encode(), e.model_dump_json().encode()) for e in events]
            produce_and_wait(self._producer, records, timeout_s=self._timeout, what="alerts")
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
            if self._on_emitted is not None:
                self._on_emitted(ev)  # counted here: only what was emitted, never what a rebuild re-derived
            if self._webhooks is not None:
                self._webhooks.submit(ev)

    def reset(self) -> None:
        if self._factory is None or self._producer is None:
            return
        try:
            self._producer.close(timeout=0)
        except Exception as exc:  # being thrown away
            log.debug("closing the old alerts producer: %r", exc)
        self._producer = self._factory()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
