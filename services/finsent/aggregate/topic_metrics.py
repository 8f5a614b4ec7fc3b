"""Per-topic Prometheus metrics with bounded label cardinality.

Topics on the allow-list always get their own `topic` label; others get one while fewer than
`max_topic_labels` are in use (first come, first served); every further topic is counted under
`topic="other"` (counters only: a gauge of a mixed bag would mean nothing).

Event types (up to 21 values) multiply a topic's series, so a series with both `topic` and
`event_type` exists only for allow-listed topics (the event mix of the per-topic drill-down); the
all-topics view by event type comes from the scorer's `finsent_items_scored_by_event_type_total`."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge

OTHER = "other"


class TopicLabeler:
    def __init__(self, allow: set[str], max_labels: int) -> None:
        self._allow, self._max = allow, max_labels
        self._given: set[str] = set()

    def label(self, topic: str) -> str:
        if topic in self._allow or topic in self._given:
            return topic
        if len(self._given) < self._max:
            self._given.add(topic)
            return topic
        return OTHER

    def has_label(self, topic: str) -> bool:
        return topic in self._allow or topic in self._given

    @property
    def allowed(self) -> set[str]:
        return self._allow


class TopicMetrics:
    def __init__(
        self, registry: CollectorRegistry, windows: dict[str, int], allow: set[str], max_labels: int
    ) -> None:
        self.labeler = TopicLabeler(allow, max_labels)
        self.windows = windows
        r = registry
        self.items = Counter(
            "finsent_topic_items_total",
            "Scored items counted per topic (each item once).",
            ["topic", "label"],
            registry=r,
        )
        self.negative_share = Gauge(
            "finsent_topic_negative_share",
            "Share of negative items in the window.",
            ["topic", "window"],
            registry=r,
        )
        self.mean_score = Gauge(
            "finsent_topic_mean_score",
            "Mean score p(positive)-p(negative) in the window.",
            ["topic", "window"],
            registry=r,
        )
        self.volume = Gauge("finsent_topic_volume", "Items in the window.", ["topic", "window"], registry=r)
        self.baseline = Gauge(
            "finsent_topic_baseline_negative_share",
            "The topic's baseline negative share (spike detector).",
            ["topic"],
            registry=r,
        )
        self.zscore = Gauge(
            "finsent_topic_zscore",
            "Short-window negative share against the baseline, as z.",
            ["topic"],
            registry=r,
        )
        self.alert_state = Gauge(
            "finsent_topic_alert_state", "Spike state: 0 none, 1 warning, 2 critical.", ["topic"], registry=r
        )
        self.alerts = Counter(
            "finsent_alerts_total", "Alert events emitted.", ["severity", "status"], registry=r
        )
        self.duplicates = Counter(
            "finsent_aggregate_duplicates_total",
            "Items ignored because they were already counted (replays).",
            registry=r,
        )
        self.copies = Counter(
            "finsent_aggregate_story_copies_total",
            "Items that were copies of a story their topic had counted (counted once).",
            registry=r,
        )
        self.late = Counter(
            "finsent_aggregate_late_total", "Items older than the longest window, ignored.", registry=r
        )
        self.topics = Gauge("finsent_aggregate_topics", "Topics held in memory.", registry=r)
        self.event_time = Gauge(
            "finsent_aggregate_event_time_seconds",
            "The aggregator's clock: the newest event time seen (Unix seconds).",
            registry=r,
        )
        self.event_items = Gauge(
            "finsent_topic_event_type_items",
            "Items in the spike window by event type (allow-listed topics only).",
            ["topic", "event_type"],
            registry=r,
        )
        self.event_negative_items = Gauge(
            "finsent_topic_event_type_negative_items",
            "Negative items in the spike window by event type (allow-listed topics only).",
            ["topic", "event_type"],
            registry=r,
        )
        self._event_series: dict[str, set[str]] = {}  # topic -> event types with a series
        self.overflow = Counter(
            "finsent_topic_label_overflow_total",
            'Items whose topic was counted as topic="other" (label limit reached).',
            registry=r,
        )

    def count(self, topic: str, label: str) -> None:
        name = self.labeler.label(topic)
        if name == OTHER:
            self.overflow.inc()
        self.items.labels(topic=name, label=label).inc()

    def shows_event_mix(self, topic: str) -> bool:
        return topic in self.labeler.allowed

    def event_mix(self, topic: str, items: dict[str, int], negative: dict[str, int]) -> None:
        """The spike window's items and negative items by event type; types that left the window
        go to 0 (their series stay, bounded by the taxonomy)."""
        shown = self._event_series.setdefault(topic, set())
        shown.update(items)
        for event_type in shown:
            self.event_items.labels(topic=topic, event_type=event_type).set(items.get(event_type, 0))
            self.event_negative_items.labels(topic=topic, event_type=event_type).set(
                negative.get(event_type, 0)
            )

    def gauges(
        self,
        topic: str,
        per_window: dict[str, tuple[int, float, float]],
        baseline: float,
        z: float,
        state: int,
    ) -> None:
        name = self.labeler.label(topic)
        if name == OTHER:
            return
        for window, (volume, share, mean) in per_window.items():
            self.volume.labels(topic=name, window=window).set(volume)
            self.negative_share.labels(topic=name, window=window).set(share)
            self.mean_score.labels(topic=name, window=window).set(mean)
        self.baseline.labels(topic=name).set(baseline)
        self.zscore.labels(topic=name).set(z)
        self.alert_state.labels(topic=name).set(state)

    def forget(self, topic: str) -> None:
        """Drop an evicted topic's gauge series (its counters stay: they are cumulative)."""
        if not self.labeler.has_label(topic):
            return
        for window in self.windows:
            for g in (self.volume, self.negative_share, self.mean_score):
                with contextlib.suppress(KeyError):
                    g.remove(topic, window)
        for g in (self.baseline, self.zscore, self.alert_state):
            with contextlib.suppress(KeyError):
                g.remove(topic)
        for event_type in self._event_series.pop(topic, set()):
            for g in (self.event_items, self.event_negative_items):
                with contextlib.suppress(KeyError):
                    g.remove(topic, event_type)
