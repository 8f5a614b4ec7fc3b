"""The aggregation state machine: topic windows, idempotency by item id, spike detection.

Time is event time: the aggregator's clock is the newest event time it has seen (its watermark),
or the time up to which every input partition has delivered, so a replayed feed and a live stream
behave alike. Everything is bounded: topics (idle ones evicted first), remembered ids (only as far
back as the longest window, with a hard cap), evidence per topic.

Late data. Items do not always arrive in event-time order: a backlog is scored in micro-batches,
partitions are read at different speeds, one partition may run an hour ahead of another. An item
for a minute the clock has already passed is counted, and its topic's decisions from that minute on
are made again with it, as an in-order run would have made them: the detector's state right after
the topic's last emitted transition is kept, and since nothing was emitted for the topic after that
point, replaying the minutes from there is exact. What was emitted is never retracted, so the
replay starts no earlier than the minute after the topic's last emitted transition.

Event types. With a model that has an event-type head, every window also counts items by event type
(bounded by the taxonomy), and an alert says what the window's negative items are about. The
optional per-(topic, event type) detector is a second Aggregator over the same items, keyed by
(topic, event type), with its own detector settings (its own volume floor): "BA's Legal |
Regulation news turned negative" fires even while BA as a whole looks normal.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from finsent.aggregate.detector import (
    Assessment,
    Baseline,
    DetectorConfig,
    Severity,
    SpikeState,
    Transition,
    assess_against,
    baseline_share,
    scan,
)
from finsent.aggregate.stories import NoveltyConfig
from finsent.aggregate.topic_metrics import TopicMetrics
from finsent.aggregate.windows import BUCKET_S, TopicWindows, bucket_of
from finsent.contracts.alert import AlertEvent, EventTypeCount, Evidence
from finsent.contracts.event_type import bounded_event_type
from finsent.contracts.news import ModelRef
from finsent.contracts.topic_score import TopicScore

log = logging.getLogger(__name__)

STATE_VALUE = {Severity.NONE: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
EVIDENCE_SHOW = 5
# Joins a topic and an event type into the key of the per-(topic, event type) detector; event types
# never contain it, so splitting at the last one gives the topic back exactly.
PAIR_SEP = "\x1f"


def pair_key(topic: str, event_type: str) -> str:
    return f"{topic}{PAIR_SEP}{event_type}"


def split_pair(key: str) -> tuple[str, str]:
    topic, _, event_type = key.rpartition(PAIR_SEP)
    return topic, event_type


def breakdown(counts: dict[str, int]) -> list[EventTypeCount]:
    """Counts by event type as shares of their sum, most first (ties by name, so it is stable)."""
    total = sum(counts.values())
    ranked = sorted(((n, t) for t, n in counts.items() if n > 0), key=lambda x: (-x[0], x[1]))
    return [EventTypeCount(event_type=t, count=n, share=round(n / total, 4)) for n, t in ranked]


def event_time_s(ev: TopicScore) -> float:
    """The time an item counts at: the scorer's bounded event time, else (older scorers) published_at."""
    return (ev.event_time or ev.published_at).timestamp()


@dataclass
class TopicState:
    windows: TopicWindows
    spike: SpikeState = field(default_factory=SpikeState)
    # The most negative items of each minute (EVIDENCE_SHOW at most), so that an alert decided for
    # any minute in the horizon, late data included, shows the items of its own window.
    evidence: dict[int, list[TopicScore]] = field(default_factory=dict)
    last_update_s: float = 0.0
    # The detector state right after the last emitted transition, and that transition's minute:
    # where a re-assessment for late data starts from.
    settled: SpikeState = field(default_factory=SpikeState)
    settled_at_s: float = -math.inf
    redo_from_s: float | None = None  # the earliest minute late data changed, not yet re-assessed
    # One story counts once: story key -> event time of the copy counted, and copies not counted.
    stories: dict[str, float] = field(default_factory=dict)
    copies: Counter[str] = field(default_factory=Counter)
    story_of: dict[str, str] = field(default_factory=dict)  # evidence item id -> story key


class Aggregator:
    def __init__(
        self,
        windows: dict[str, int],
        detector: DetectorConfig,
        *,
        metrics: TopicMetrics | None = None,
        max_topics: int = 10_000,
        max_seen: int = 2_000_000,
        event_detector: DetectorConfig | None = None,
        novelty: NoveltyConfig | None = None,
    ) -> None:
        self.windows = windows
        self.detector = detector
        self.horizon_s = max(
            [
                *windows.values(),
                max(detector.short_window_s, detector.long_window_s) + detector.baseline_window_s,
            ]
        )
        self.metrics = metrics
        self.max_topics, self.max_seen = max_topics, max_seen
        self.topics: OrderedDict[str, TopicState] = OrderedDict()  # least recently updated first
        self.seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.watermark_s: float = 0.0  # the newest event time seen
        self.clock_s: float = 0.0  # the minute boundary assessed last
        self.duplicates = 0
        self.late = 0
        self.copies = 0  # items that were copies of a story already counted for their topic
        self.novelty = novelty
        self.stories = novelty.index() if novelty is not None else None
        self.reassessed = 0  # topic re-assessments caused by late data
        # The per-(topic, event type) detector, when configured: same windows and bounds, keyed by pair.
        self.by_event: Aggregator | None = None
        if event_detector is not None:
            self.by_event = Aggregator(
                windows, event_detector, max_topics=max_topics, max_seen=max_seen, novelty=novelty
            )
            # Which story a text is does not depend on the key it is counted under: one index
            # serves both (each item's text is hashed, and MinHashed, once).
            self.by_event.stories = self.stories

    # -- ingest ------------------------------------------------------------------------------------
    def apply(
        self,
        events: Iterable[TopicScore],
        *,
        until_s: float | None = None,
        hold: bool = False,
    ) -> list[AlertEvent]:
        """Add events, then assess topics up to `until_s` (default: the newest event time seen).
        Returns the alert events caused, in event-time order per topic.

        Topics are assessed at every minute boundary of event time that the clock passes, so what
        fires depends neither on how the stream was cut into batches nor on arrival order: a caller
        reading several partitions passes as `until_s` the time up to which all of them have
        delivered (the slowest partition's newest event), as stream processors do with watermarks.
        `hold`: only take the events in, the clock stays (a rebuild still reading its history)."""
        for ev in events:
            self._add(ev)
            event_type = bounded_event_type(ev.event_type)
            if self.by_event is not None and event_type is not None:
                pair = pair_key(ev.topic, event_type)
                self.by_event._add(ev.model_copy(update={"topic": pair}))
        if hold:
            return []
        alerts = self.advance(self.watermark_s if until_s is None else min(until_s, self.watermark_s))
        if self.metrics:
            self.metrics.topics.set(len(self.topics))
            self.metrics.event_time.set(self.clock_s)
        return alerts

    def _add(self, ev: TopicScore) -> None:
        at = event_time_s(ev)
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
        story = self._story(ev, at, state)
        if story is None:
            return  # a copy of a story this topic has counted: it adds nothing to volume or share
        event_type = bounded_event_type(ev.event_type)
        state.windows.add(at, ev.label.value, ev.score, event_type)
        state.last_update_s = max(state.last_update_s, at)
        if ev.score < 0:
            worst = state.evidence.setdefault(bucket_of(at), [])
            worst.append(ev)
            state.story_of[ev.id] = story
            if len(worst) > EVIDENCE_SHOW:
                worst.sort(key=lambda e: e.score)
                state.story_of.pop(worst.pop().id, None)
        self.watermark_s = max(self.watermark_s, at)
        if self.clock_s and bucket_of(at) <= self.clock_s:
            # A minute already assessed: decide this topic's minutes again from there.
            first = max(bucket_of(at), state.settled_at_s + BUCKET_S)
            if first <= self.clock_s:
                state.redo_from_s = first if state.redo_from_s is None else min(state.redo_from_s, first)
        if self.metrics:
            self.metrics.count(ev.topic, ev.label.value)

    def _story(self, ev: TopicScore, at: float, state: TopicState) -> str | None:
        """The story key of an item for its topic, or None for a copy of one it has counted (the
        first copy to arrive counts)."""
        if self.stories is None or not ev.snippet:
            return ev.id
        story = self.stories.story_of(ev.snippet, at)
        if story in state.stories:
            state.copies[story] += 1
            self.copies += 1
            if self.metrics:
                self.metrics.copies.inc()
            return None
        state.stories[story] = at
        return story

    def advance(self, to_s: float) -> list[AlertEvent]:
        """Re-assess topics that got late data, then assess, at each minute boundary up to `to_s`,
        every topic with items in the short window or a spike in progress."""
        alerts: list[AlertEvent] = []
        assessed: dict[str, float] = {}
        for topic, state in list(self.topics.items()):
            if state.redo_from_s is not None:
                alerts += self._redo(topic, state, assessed)
        last = bucket_of(to_s)
        if self.clock_s < last:
            first = int(self.clock_s) + BUCKET_S if self.clock_s else last - self.horizon_s
            # A clock that jumps (a backlog, a first batch) is still assessed minute by minute, but
            # never further back than the windows reach.
            first = max(first, last - self.horizon_s)
            for boundary in range(first, last + 1, BUCKET_S):
                for topic, state in list(self.topics.items()):
                    if self._due(state, boundary):
                        alerts += self._evaluate(topic, state, boundary)
                        assessed[topic] = boundary
            self.clock_s = float(last)
        self._expire()
        if self.metrics:
            for topic, at in assessed.items():
                if topic in self.topics:
                    self._gauges(topic, self.topics[topic], at)
        if self.by_event is not None:
            alerts += [_from_pair(a) for a in self.by_event.advance(to_s)]
        return alerts

    def _entry_window_s(self) -> int:
        cfg = self.detector
        return cfg.short_window_s if cfg.legacy else max(cfg.short_window_s, cfg.long_window_s)

    def _scan_window_s(self) -> int:
        return 0 if self.detector.legacy else self.detector.scan_window_s

    def _due(self, state: TopicState, boundary: float) -> bool:
        reach = max(self._entry_window_s(), self._scan_window_s())
        recent = state.last_update_s > boundary - reach - BUCKET_S
        return recent or state.spike.active is not Severity.NONE

    def _redo(self, topic: str, state: TopicState, assessed: dict[str, float]) -> list[AlertEvent]:
        start = max(state.redo_from_s or 0.0, self.clock_s - self.horizon_s)
        state.redo_from_s = None
        self.reassessed += 1
        # Steps without a transition change nothing but `last`, so the state at `start` is the one
        # right after the last emitted transition.
        state.spike = state.settled.copy()
        out: list[AlertEvent] = []
        for boundary in range(int(start), int(self.clock_s) + 1, BUCKET_S):
            if self._due(state, boundary):
                out += self._evaluate(topic, state, boundary)
                assessed[topic] = max(assessed.get(topic, boundary), boundary)
        return out

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
            state.spike.forget_before(cutoff)
            state.settled.forget_before(cutoff)
            for minute in [m for m in state.evidence if m < cutoff - BUCKET_S]:
                for e in state.evidence.pop(minute):
                    state.story_of.pop(e.id, None)
            if self.novelty is not None:
                story_cutoff = self.watermark_s - self.novelty.horizon_s
                for story in [k for k, at in state.stories.items() if at < story_cutoff]:
                    del state.stories[story]
                    state.copies.pop(story, None)

    # -- detection ---------------------------------------------------------------------------------
    def baseline(self, state: TopicState, now_s: float) -> Baseline:
        """The share a topic is judged against at `now_s`: frozen at the onset of an active spike;
        else the baseline window before the short window, the minutes of spikes left out."""
        cfg = self.detector
        if state.spike.frozen_baseline is not None and not cfg.legacy:
            return state.spike.frozen_baseline
        exclude = () if cfg.legacy else state.spike.excluded
        # The baseline ends where the longest entry window begins: a burst's first minutes, still
        # below the bar, must not raise the baseline it is about to be judged against.
        offset = self._entry_window_s()
        base = state.windows.window(now_s, cfg.baseline_window_s, end_offset_s=offset, exclude=exclude)
        # How much history that is (a young topic's is short): the sequential test's bar depends on
        # the topic's rate of items.
        first = state.windows.first_s()
        span = cfg.baseline_window_s if first is None else now_s - offset - first
        span = min(max(span, BUCKET_S), cfg.baseline_window_s)
        return baseline_share(cfg, base.negative, base.total, state.spike.prior_share, span)

    def assessment(self, topic: str, now_s: float | None = None) -> Assessment:
        """The short window against the topic's baseline (frozen while a spike lasts)."""
        cfg, state = self.detector, self.topics[topic]
        now = state.last_update_s if now_s is None else now_s
        short = state.windows.window(now, cfg.short_window_s)
        return assess_against(cfg, short.negative, short.total, self.baseline(state, now), cfg.short_window_s)

    def _evaluate(self, topic: str, state: TopicState, now_s: float) -> list[AlertEvent]:
        cfg, w = self.detector, state.windows
        windows = [cfg.short_window_s] + ([cfg.long_window_s] if cfg.long_window_s and not cfg.legacy else [])
        # After a recovery, the entry windows start at the resolve: the minutes that were judged
        # recovered must not fire the topic again through the longer window still holding the spike.
        since = state.spike.resolved_at_s if not cfg.legacy else -math.inf
        counts = [w.window(now_s, int(min(length, max(0.0, now_s - since)))) for length in windows]
        idle = state.spike.active is Severity.NONE
        minutes = w.minutes(now_s, int(min(self._scan_window_s(), max(0.0, now_s - since)))) if idle else []
        volume = max(max(c.total for c in counts), sum(m[2] for m in minutes))
        if not state.spike.can_fire(cfg, volume, now_s):
            return []  # nothing could change: the baseline is not worth computing
        p0 = self.baseline(state, now_s)
        entry = [
            assess_against(cfg, c.negative, c.total, p0, n) for c, n in zip(counts, windows, strict=True)
        ]
        if minutes:  # the sequential test only decides firing: an active spike resolves on its own rule
            entry.append(scan(cfg, minutes, p0, now_s))
        resolve = None
        if state.spike.active is not Severity.NONE and not cfg.legacy:
            r = w.window(now_s, cfg.resolve_window_s)
            resolve = assess_against(cfg, r.negative, r.total, p0, cfg.resolve_window_s)
        transition = state.spike.step(cfg, entry, now_s, resolve, p0)
        if transition is None:
            return []
        state.settled, state.settled_at_s = state.spike.copy(), now_s
        return [self._event(topic, state, transition, now_s)]

    def _gauges(self, topic: str, state: TopicState, now_s: float) -> None:
        assert self.metrics is not None
        a = self.assessment(topic, now_s)
        per_window = {}
        for name, length in self.windows.items():
            c = state.windows.window(now_s, length)
            per_window[name] = (c.total, c.negative_share, c.mean_score)
        self.metrics.gauges(topic, per_window, a.baseline, a.z, STATE_VALUE[state.spike.active])
        if self.metrics.shows_event_mix(topic):
            short = state.windows.window(now_s, self.detector.short_window_s, events=True)
            self.metrics.event_mix(topic, short.events, short.negative_events)

    def _event(self, topic: str, state: TopicState, t: Transition, now_s: float) -> AlertEvent:
        lo = now_s - self.detector.short_window_s
        window = state.windows.window(now_s, self.detector.short_window_s, events=True)
        recent = [
            e for minute, items in state.evidence.items() if lo - BUCKET_S < minute <= now_s for e in items
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
            severity="critical" if t.severity is Severity.CRITICAL else "warning",
            negative_share=round(a.negative_share, 4),
            baseline=round(a.baseline, 4),
            zscore=round(a.z, 3),
            volume=a.volume,
            window_s=a.window_s or self.detector.short_window_s,
            started_at=started,
            duration_s=max(0, int(now_s - t.started_at_s)),
            reason=t.reason if t.kind == "resolved" else None,
            trigger=None if t.kind == "resolved" else "window" if a.llr is None else "sequential",
            evidence_llr=None if a.llr is None or t.kind == "resolved" else round(a.llr, 2),
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
                    event_type=e.event_type,
                    copies=1 + state.copies.get(state.story_of.get(e.id, e.id), 0),
                )
                for e in worst
            ],
            negative_event_types=breakdown(window.negative_events),
            evidence_event_types=breakdown(
                Counter(kind for e in worst if (kind := bounded_event_type(e.event_type)) is not None)
            ),
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


def _from_pair(alert: AlertEvent) -> AlertEvent:
    """An alert of the per-(topic, event type) detector, as its receivers see it: the real topic,
    and the event type the spike is in."""
    topic, event_type = split_pair(alert.topic)
    return alert.model_copy(update={"topic": topic, "event_type": event_type})
