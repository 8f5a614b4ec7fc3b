"""Event time is bounded: far-future and far-past items are clamped, and a few poisoned dates set no clock."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from finsent.aggregate.aggregator import Aggregator
from finsent.aggregate.detector import DetectorConfig
from finsent.scoring.dedup import RecentIds
from finsent.scoring.event_time import EventTimePolicy
from finsent.scoring.metrics import PipelineMetrics
from finsent.scoring.replay import ReplaySource, feed_clock
from finsent.scoring.scorer import ScoringPipeline
from support.fakes import FixedBackend, RecordingSink
from support.scenarios import WINDOWS, burst_scenario, ev


def test_event_time_policy_clamps_both_ways_and_keeps_sane_times():
    ref = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    p = EventTimePolicy(max_future_s=300, max_past_s=86_400)
    assert p.bound(datetime(2999, 1, 1, tzinfo=UTC), ref) == (ref + timedelta(seconds=300), "future")
    assert p.bound(datetime(1970, 1, 2, tzinfo=UTC), ref) == (ref - timedelta(days=1), "past")
    sane = ref - timedelta(hours=2)
    assert p.bound(sane, ref) == (sane, None)
    assert p.bound(sane, None) == (sane, None)


def test_one_far_future_item_does_not_blind_the_aggregator():
    events = burst_scenario()
    poison = ev("future", "AAPL", 0).model_copy(
        update={"published_at": datetime(2999, 1, 1, tzinfo=UTC), "event_time": None}
    )
    # Unbounded, as before the fix: everything after it is late and the burst fires nothing.
    blind = Aggregator(WINDOWS, DetectorConfig())
    assert [x for x in blind.apply([poison, *events]) if x.topic == "BA"] == []
    # Bounded by the scorer (record timestamp + 5 min), the burst fires as it should.
    clamped = poison.model_copy(update={"event_time": events[0].published_at + timedelta(minutes=5)})
    a = Aggregator(WINDOWS, DetectorConfig())
    fired = [x for x in a.apply([clamped, *events]) if x.topic == "BA" and x.status == "firing"]
    assert fired


def test_replay_feed_clock_ignores_a_few_poisoned_dates():
    base = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    lines = [
        json.dumps(
            {"id": str(i), "text": "t", "published_at": (base + timedelta(minutes=i)).isoformat()}
        ).encode()
        for i in range(200)
    ]
    lines[30] = json.dumps({"id": "x", "text": "t", "published_at": "2999-01-01T00:00:00Z"}).encode()
    lines[31] = b"{broken"
    clock = feed_clock(lines, 0)
    assert len(clock) == 200
    far = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert max(clock) < far
    # Every sane line is within the default 5-minute future skew of its reference.
    for i, line in enumerate(lines):
        if i not in (30, 31):
            published = datetime.fromisoformat(json.loads(line)["published_at"])
            assert published.timestamp() * 1000 <= clock[i] + 300_000


def test_embedded_replay_clamps_the_far_future_item(tmp_path):
    base = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    rows = [
        {"id": str(i), "text": f"Acme item {i}", "published_at": (base + timedelta(minutes=i)).isoformat()}
        for i in range(60)
    ]
    rows[10]["published_at"] = "2999-01-01T00:00:00+00:00"
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(json.dumps(r) for r in rows))
    sink = RecordingSink()
    metrics = PipelineMetrics()
    source = ReplaySource(feed, max_batch=16)
    ScoringPipeline(source, FixedBackend(), sink, recent=RecentIds(100, 60), metrics=metrics).run(
        threading.Event(), until=source.done
    )
    by_id = {s.id: s for s in sink.scored}
    assert by_id["10"].event_time_clamped == "future"
    assert by_id["10"].published_at.year == 2999  # the original is kept
    assert by_id["10"].event_time < base + timedelta(hours=2)
    assert sum(1 for s in sink.scored if s.event_time_clamped) == 1
    assert metrics.registry.get_sample_value("finsent_event_time_clamped_total", {"direction": "future"}) == 1
