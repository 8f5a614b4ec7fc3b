"""Items out of event-time order (buckets first seen late, backlogs read partition by partition,
shuffled minutes) fire what an in-order run fires."""

from __future__ import annotations

import random
import zlib

import pytest

from finsent.aggregate.aggregator import Aggregator, event_time_s
from finsent.aggregate.detector import DetectorConfig
from finsent.aggregate.partition_clock import PartitionClock
from finsent.aggregate.windows import TopicWindows
from support.scenarios import WINDOWS, burst_scenario


def _partitioned(events: list, salt: int, n: int = 6) -> list[list]:
    """The events as `n` partitions would hold them (keyed by topic and id, with a stable hash)."""
    return [[e for e in events if zlib.crc32(f"{salt}:{e.topic}:{e.id}".encode()) % n == p] for p in range(n)]


def test_a_bucket_first_seen_after_a_later_one_is_counted():
    w = TopicWindows(86_400)
    for minute in [0, 1, 2, *range(4, 11), 3]:  # the reproduction
        w.add(minute * 60 + 1, "negative", -1.0)
    assert w.window(8 * 60, 300).total == 5  # the whole minutes 3..7 before minute 8
    assert w.window(10 * 60, 3600).total == 10  # minutes 0..9
    assert w.window(10 * 60 + 30, 3600).total == 11  # within minute 10: it counts so far


@pytest.mark.parametrize("salt", range(12))
def test_a_backlog_read_partition_by_partition_fires_what_an_in_order_run_fires(salt: int):
    """Six partitions, each read whole before the next (a backlog; kafka-python can drain one
    partition's fetch before the next), in micro-batches, with the runner's watermark
    (PartitionClock): most minutes arrive after the newest event time has passed them."""
    events = burst_scenario()
    in_order = [
        (x.topic, x.status, x.started_at) for x in Aggregator(WINDOWS, DetectorConfig()).apply(events)
    ]
    assert ("BA", "firing") in {(t, s) for t, s, _ in in_order}
    parts = [p for p in _partitioned(events, salt) if p]  # an empty partition goes idle
    clock = PartitionClock(idle_s=30.0)
    clock.assigned(range(len(parts)), now=0.0)
    a = Aggregator(WINDOWS, DetectorConfig())
    out = []
    for p, part in enumerate(parts):
        for i in range(0, len(part), 512):
            batch = part[i : i + 512]
            clock.delivered(p, max(event_time_s(e) for e in batch), now=1.0)
            until = clock.safe_time(now=1.0, clock=a.clock_s)
            out += [(x.topic, x.status, x.started_at) for x in a.apply(batch, until_s=until)]
    # Every partition is idle at the end of the backlog: the rest is assessed.
    out += [
        (x.topic, x.status, x.started_at)
        for x in a.apply([], until_s=clock.safe_time(now=99.0, clock=a.clock_s))
    ]
    # The same alerts, each once, at the same event time.
    assert sorted(out) == sorted(in_order)
    times = [event_time_s(e) for part in parts for e in part]
    assert times != sorted(times)  # the stream really was out of event-time order


def test_without_a_watermark_a_partial_backlog_does_not_resolve_a_spike_early():
    """Assessing the newest minutes on part of the data used to resolve BA's spike prematurely (one
    partitioning in twelve, with the detector that resolved on the short window's z-score); a
    spike now resolves only on enough items near its frozen baseline, which a partial read lacks.
    (The runner still holds the clock for partitions that have not delivered.)"""
    events = burst_scenario()
    in_order = [x.status for x in Aggregator(WINDOWS, DetectorConfig()).apply(events)]
    legacy = 0
    for salt in range(12):
        stream = [e for part in _partitioned(events, salt) for e in part]
        a = Aggregator(WINDOWS, DetectorConfig())
        statuses = [x.status for i in range(0, len(stream), 512) for x in a.apply(stream[i : i + 512])]
        assert "firing" in statuses  # the spike is still found out of order (the windows' re-sort)
        assert statuses.count("resolved") == in_order.count("resolved")
        old = Aggregator(WINDOWS, DetectorConfig(legacy=True, prior_weight=20))
        legacy += [
            x.status for i in range(0, len(stream), 512) for x in old.apply(stream[i : i + 512])
        ].count("resolved")
    assert legacy >= 1  # the old detector's early resolve, still reproduced


def test_shuffled_minutes_within_one_topic_fire_like_in_order():
    rng = random.Random(3)
    events = burst_scenario()
    ba = [e for e in events if e.topic == "BA"]
    rest = [e for e in events if e.topic != "BA"]
    rng.shuffle(ba)
    a = Aggregator(WINDOWS, DetectorConfig())
    out = a.apply(rest)
    out += a.apply(ba)
    assert any(x.topic == "BA" and x.status == "firing" for x in out)
