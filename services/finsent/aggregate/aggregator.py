"""The aggregation state machine: topic windows, idempotency by item id, spike detection.

Time is event time: the aggregator's clock is the newest `published_at` it has seen (its watermark),
so a replayed feed and a live stream behave alike. Everything is bounded: topics (idle ones evicted
first), remembered ids (only as far back as the longest window, with a hard cap), evidence per topic.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from finsent.aggregate.detector import Assessment, DetectorConfig, Severity, SpikeState, Transition, assess
from finsent.aggregate.records import TopicScore
from finsent.aggregate.topic_metrics import TopicMetrics
from finsent.aggregate.windows import BUCKET_S, TopicWindows
from finsent.alerts.contracts import AlertEvent, Evidence
from finsent.contracts import ModelRef

log = logging.getLogger(__name__)

STATE_VALUE = {Severity.NONE: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
EVIDENCE_KEEP = 64
EVIDENCE_SHOW = 5
MAX_CATCH_UP_STEPS = 90  # minute boundaries assessed at most in one advance (a long backfill skips ahead)


def parse_window(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    if not text or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) <= 0:
        raise ValueError(f"window {text!r}: expected a number and a unit s, m, h or d (e.g. 5m)")
    return int(text[:-1]) * units[text[-1]]


@dataclass
class TopicState:
    windows: TopicWindows
    spike: SpikeState = field(default_factory=SpikeState)
    evidence: deque[TopicScore] = field(default_factory=lambda: deque(maxlen=EVIDENCE_KEEP))
    last_update_s: float = 0.0


class Aggregator:
    def __init__(
        self,
        windows: dict[str, int],
        detector: DetectorConfig,
        *,
        metrics: TopicMetrics | None = None,
        max_topics: int = 10_000,
        max_seen: int = 2_000_000,
    ) -> None:
        self.windows = windows
        self.detector = detector
        self.horizon_s = max([*windows.values(), detector.short_window_s + detector.baseline_window_s])
        self.metrics = metrics
        self.max_topics, self.max_seen = max_topics, max_seen
        self.topics: OrderedDict[str, TopicState] = OrderedDict()  # least recently updated first
        self.seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.watermark_s: float = 0.0  # the newest event time seen
        self.clock_s: float = 0.0  # the minute boundary assessed last
        self.duplicates = 0
        self.late = 0

    # -- ingest ------------------------------------------------------------------------------------
    def apply(
        self,
        events: Iterable[TopicScore],
        *,
        silent: bool = False,
        until_s: float | None = None,
        hold: bool = False,
    ) -> list[AlertEvent]:
        """Add events, then assess topics up to `until_s` (default: the newest event time seen).
        Returns the alert events caused (none when `silent`: a state rebuild).

        Topics are assessed at every minute boundary of event time that the clock passes, so what
        fires depends neither on how the stream was cut into batches nor on arrival order: a caller
        reading several partitions passes as `until_s` the time up to which all of them have
        delivered (the slowest partition's newest event), as stream processors do with watermarks."""
        for ev in events:
            self._add(ev)
        if hold:  # `hold`: only take the events in; the clock stays (a rebuild still reading)
            return []
        alerts = self.advance(self.watermark_s if until_s is None else min(until_s, self.watermark_s))
        if self.metrics:
            self.metrics.topics.set(len(self.topics))
            self.metrics.event_time.set(self.clock_s)
        return [] if silent else alerts

    def _add(self, ev: TopicScore) -> None:
        at = ev.published_at.timestamp()
        key = (ev.topic, ev.id)
        if key in self.seen:
            self.duplicates += 1
            if self.metrics:
                self.metrics.duplicates.inc()
            return
        if self.watermark_s and at < self.watermark_s - self.horizon_s:
            self.late += 1
            if self.metrics:
                self.metrics.late.inc()
            return
        self.seen[key] = at
        state = self.topics.get(ev.topic)
        if state is None:
            state = self.topics[ev.topic] = TopicState(TopicWindows(self.horizon_s))
        self.topics.move_to_end(ev.topic)
        state.windows.add(at, ev.label.value, ev.score)
        state.last_update_s = max(state.last_update_s, at)
        if ev.score < 0:
            state.evidence.append(ev)
        self.watermark_s = max(self.watermark_s, at)
        if self.metrics:
            self.metrics.count(ev.topic, ev.label.value)

    def advance(self, to_s: float) -> list[AlertEvent]:
        """Assess, at each minute boundary up to `to_s`, every topic with items in the short window
        or a spike in progress."""
        last = int(to_s) // BUCKET_S * BUCKET_S
        if self.clock_s >= last:
            return []
        first = last - MAX_CATCH_UP_STEPS * BUCKET_S if not self.clock_s else int(self.clock_s) + BUCKET_S
        first = max(first, last - MAX_CATCH_UP_STEPS * BUCKET_S)
        alerts: list[AlertEvent] = []
        for boundary in range(first, last + 1, BUCKET_S):
            for topic, state in list(self.topics.items()):
                recent = state.last_update_s > boundary - self.detector.short_window_s - BUCKET_S
                if recent or state.spike.active is not Severity.NONE:
                    alerts += self._evaluate(topic, state, boundary)
        self.clock_s = float(last)
        self._expire()
        return alerts

    def _expire(self) -> None:
        cutoff = self.watermark_s - self.horizon_s
        while self.seen:
            _, at = next(iter(self.seen.items()))
            if at >= cutoff and len(self.seen) <= self.max_seen:
                break
            self.seen.popitem(last=False)
        while self.topics:
            topic, state = next(iter(self.topics.items()))
            idle = state.last_update_s < cutoff and state.spike.active is Severity.NONE
            if not idle and len(self.topics) <= self.max_topics:
                break
            self.topics.popitem(last=False)
            if self.metrics:
                self.metrics.forget(topic)
        for state in self.topics.values():
            state.windows.expire(self.watermark_s)

    # -- detection ---------------------------------------------------------------------------------
    def assessment(self, topic: str, now_s: float | None = None) -> Assessment:
        cfg, w = self.detector, self.topics[topic].windows
        now = self.topics[topic].last_update_s if now_s is None else now_s
        short = w.window(now, cfg.short_window_s)
        base = w.window(now, cfg.baseline_window_s, end_offset_s=cfg.short_window_s)
        return assess(cfg, short.negative, short.total, base.negative, base.total)

    def _evaluate(self, topic: str, state: TopicState, now_s: float) -> list[AlertEvent]:
        a = self.assessment(topic, now_s)
        transition = state.spike.step(self.detector, a, now_s)
        out = []
        if transition is not None:
            out.append(self._event(topic, state, transition, now_s))
            if self.metrics:
                self.metrics.alerts.labels(severity=transition.severity.value, status=transition.kind).inc()
        if self.metrics:
            per_window = {}
            for name, length in self.windows.items():
                c = state.windows.window(now_s, length)
                per_window[name] = (c.total, c.negative_share, c.mean_score)
            self.metrics.gauges(topic, per_window, a.baseline, a.z, STATE_VALUE[state.spike.active])
        return out

    def _event(self, topic: str, state: TopicState, t: Transition, now_s: float) -> AlertEvent:
        recent = [
            e for e in state.evidence if e.published_at.timestamp() > now_s - self.detector.short_window_s
        ]
        worst = sorted(recent, key=lambda e: e.score)[:EVIDENCE_SHOW]
        newest = max(recent, key=lambda e: e.published_at, default=None)
        started = datetime.fromtimestamp(t.started_at_s, UTC)
        alert_id = hashlib.sha256(f"{topic}|{started.isoformat()}".encode()).hexdigest()[:16]
        a = t.assessment
        return AlertEvent(
            alert_id=alert_id,
            status=t.kind,
            topic=topic,
            severity=t.severity.value,
            negative_share=round(a.negative_share, 4),
            baseline=round(a.baseline, 4),
            zscore=round(a.z, 3),
            volume=a.volume,
            window_s=self.detector.short_window_s,
            started_at=started,
            event_time=datetime.fromtimestamp(now_s, UTC),
            generated_at=datetime.now(UTC),
            model=ModelRef(name=newest.model_name, version=newest.model_version) if newest else None,
            evidence=[
                Evidence(
                    id=e.id,
                    score=e.score,
                    label=e.label.value,
                    source=e.source,
                    published_at=e.published_at,
                    snippet=e.snippet,
                )
                for e in worst
            ],
        )

    # -- summary -----------------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, object]]:
        """Per-topic figures at the newest event time, busiest first (for the run summary)."""
        rows = []
        for topic, state in self.topics.items():
            row: dict[str, object] = {"topic": topic, "alert": state.spike.active.value}
            for name, length in self.windows.items():
                c = state.windows.window(self.watermark_s, length)
                row[name] = (c.total, c.negative_share, c.mean_score)
            rows.append(row)
        longest = max(self.windows, key=self.windows.__getitem__)
        return sorted(rows, key=lambda r: -r[longest][0])  # type: ignore[index]
