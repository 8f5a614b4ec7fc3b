"""Event types in aggregation and alerts (#15): counts by event type, the alert's breakdown of its
negative items and evidence, the optional per-(topic, event type) detector, bounded metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from finsent.aggregate.aggregator import Aggregator
from finsent.aggregate.detector import DetectorConfig
from finsent.aggregate.topic_metrics import TopicMetrics
from finsent.contracts.alert import AlertEvent
from finsent.contracts.event_type import OTHER_EVENT
from finsent.contracts.topic_score import TopicScore
from support.scenarios import T0, WINDOWS, burst_scenario, ev

LEGAL, PRODUCT, MOVE = "Legal | Regulation", "Company | Product News", "Stock Movement"


# --- aggregation and alerts -------------------------------------------------------------------------------


def typed(e: TopicScore, event_type: str | None) -> TopicScore:
    return e.model_copy(update={"event_type": event_type})


def burst_with_event_types() -> list[TopicScore]:
    """The shared burst scenario; BA's negative burst is 3/4 legal news, 1/4 stock moves."""
    out = []
    for e in burst_scenario():
        if e.id.startswith("BA-b-"):
            out.append(typed(e, MOVE if e.id.endswith("-3") else LEGAL))
        else:
            out.append(typed(e, PRODUCT))
    return out


def test_the_alert_says_what_the_negative_news_is_about():
    alerts = Aggregator(WINDOWS, DetectorConfig()).apply(burst_with_event_types())
    firing = [a for a in alerts if a.status == "firing"]
    assert [a.topic for a in firing] == ["BA"] and firing[0].event_type is None
    mix = firing[0].negative_event_types
    assert [m.event_type for m in mix] == [LEGAL, MOVE]
    assert sum(m.count for m in mix) == round(firing[0].negative_share * firing[0].volume)
    assert mix[0].share == pytest.approx(mix[0].count / sum(m.count for m in mix), abs=1e-4)
    evidence = firing[0].evidence
    assert evidence and all(e.event_type in (LEGAL, MOVE) for e in evidence)
    assert sum(c.count for c in firing[0].evidence_event_types) == len(evidence)
    AlertEvent.model_validate_json(firing[0].model_dump_json())


def test_without_event_types_alerts_carry_no_breakdown():
    firing = [
        a for a in Aggregator(WINDOWS, DetectorConfig()).apply(burst_scenario()) if a.status == "firing"
    ]
    assert firing and firing[0].negative_event_types == [] and firing[0].evidence_event_types == []


def quiet_topic_with_a_legal_spike() -> list[TopicScore]:
    """BA: 20 neutral product items a minute; its legal news (1 a minute, neutral) turns negative
    (2 a minute) for the last 20 minutes: under 10% of BA, so BA as a whole stays calm."""
    out = []
    for minute in range(120):
        for k in range(20):
            out.append(typed(ev(f"p-{minute}-{k}", "BA", minute + k / 20, "neutral", 0.1), PRODUCT))
        if minute < 100:
            out.append(typed(ev(f"l-{minute}", "BA", minute + 0.5, "neutral", 0.0), LEGAL))
        else:
            for k in range(2):
                out.append(typed(ev(f"l-{minute}-{k}", "BA", minute + k / 2, "negative", -0.9), LEGAL))
    return out


def test_the_per_topic_event_type_detector_is_off_by_default_and_fires_when_on():
    events = quiet_topic_with_a_legal_spike()
    assert Aggregator(WINDOWS, DetectorConfig()).apply(events) == []
    pair = DetectorConfig().with_volume_floor(8)
    alerts = Aggregator(WINDOWS, DetectorConfig(), event_detector=pair).apply(events)
    firing = [a for a in alerts if a.status == "firing"]
    assert [(a.topic, a.event_type) for a in firing] == [("BA", LEGAL)]
    assert firing[0].started_at >= T0 + timedelta(minutes=100)
    assert firing[0].negative_event_types[0].event_type == LEGAL
    # Its own volume floor, for every entry test: above the 40 legal items of the spike, it never fires.
    floor = DetectorConfig().with_volume_floor(41)
    assert Aggregator(WINDOWS, DetectorConfig(), event_detector=floor).apply(events) == []


def test_the_per_pair_detector_counts_each_item_once_on_replay():
    events = quiet_topic_with_a_legal_spike()
    a = Aggregator(WINDOWS, DetectorConfig(), event_detector=DetectorConfig().with_volume_floor(8))
    first = a.apply(events)
    assert a.apply(events) == [] and first
    assert a.by_event is not None and a.by_event.duplicates == len(events)


def test_event_type_metrics_are_bounded():
    reg = CollectorRegistry()
    metrics = TopicMetrics(reg, WINDOWS, {"BA"}, 50)
    a = Aggregator(WINDOWS, DetectorConfig(), metrics=metrics)
    events = burst_with_event_types()
    events.append(typed(ev("odd", "BA", 119.5, "negative", -0.9), "Weather"))  # outside the taxonomy
    # The gauges at a minute boundary show the whole minutes before it: one item of minute 120
    # elsewhere moves the clock past the odd item's minute.
    events.append(ev("tick", "ELSEWHERE", 120.5))
    a.apply(events)
    legal = reg.get_sample_value(
        "finsent_topic_event_type_negative_items", {"topic": "BA", "event_type": LEGAL}
    )
    assert legal and legal > 0
    assert (
        reg.get_sample_value("finsent_topic_event_type_items", {"topic": "BA", "event_type": OTHER_EVENT})
        == 1
    )
    # Topics not on the allow-list get no topic x event-type series at all.
    series = {
        s.labels.get("topic")
        for m in reg.collect()
        if m.name.startswith("finsent_topic_event_type")
        for s in m.samples
    }
    assert series == {"BA"}
    assert a.topics["BA"].windows.window(a.watermark_s, 300, events=True).events[OTHER_EVENT] == 1


def test_the_event_detector_is_wired_from_settings():
    from finsent.app.wiring import aggregator_factory
    from finsent.settings import Settings

    metrics = TopicMetrics(CollectorRegistry(), WINDOWS, set(), 50)
    off = aggregator_factory(Settings(), metrics)()
    assert off.by_event is None
    on = aggregator_factory(Settings(event_detector=True, event_detector_min_volume=12), metrics)()
    assert on.by_event is not None and on.by_event.detector.min_volume == 12
    assert on.detector.min_volume == Settings().spike_min_volume  # the topic's own floor is unchanged
    assert on.by_event.detector.z_fire == on.detector.z_fire
