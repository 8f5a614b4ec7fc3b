"""Issue #11's defects, one function at a time: each test here failed on the code before the fix.
The end-to-end proofs on a real broker are in tests/integration/chaos/."""

from __future__ import annotations

import json
import logging
import random
import threading
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from finsent.aggregate.aggregator import Aggregator, event_time_s
from finsent.aggregate.detector import DetectorConfig
from finsent.aggregate.partition_clock import PartitionClock
from finsent.aggregate.runner import AlertPublisher
from finsent.aggregate.topic_metrics import TopicMetrics
from finsent.aggregate.windows import TopicWindows
from finsent.app.wiring import count_alert
from finsent.contracts.batch import RawRecord
from finsent.contracts.news import DeadLetter, NewsItem
from finsent.contracts.topic_score import TopicScore
from finsent.observability.log_throttle import LibraryLogThrottle
from finsent.scoring.dedup import RecentIds
from finsent.scoring.event_time import EventTimePolicy
from finsent.scoring.metrics import PipelineMetrics
from finsent.scoring.replay import ReplaySource, feed_clock
from finsent.scoring.scorer import PipelineOptions, ScoringPipeline
from finsent.scoring.validate import UNPROCESSABLE, parse_record
from support.fakes import FixedBackend, RecordingSink, ResettableSink
from support.scenarios import WINDOWS, burst_scenario, ev

TS_MS = 1_767_625_200_000  # 2026-01-05 15:00 UTC


def parse(value: bytes, ts_ms: int = TS_MS) -> NewsItem | DeadLetter:
    return parse_record(RawRecord("news", 0, 7, None, value, ts_ms), max_bytes=262_144, payload_limit=64)


# -- 1. poison records -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"[" * 1_000 + b"]" * 1_000, "invalid_json"),
        (b"[" * 10_000 + b"]" * 10_000, "invalid_json"),
        (b'{"id": "a", "text": "t", "n": ' + b"7" * 4_400 + b"}", "invalid_json"),
        (b'{"id": "a", "text": "t", "published_at": "9999-12-31T23:59:59-14:00"}', "invalid_field"),
        (b'{"id": "a", "text": "t", "meta": ' + b'{"a": ' * 900 + b"1" + b"}" * 901, None),
        (b'{"id": "a", "text": "lone \\ud800 surrogate"}', "invalid_field"),
    ],
    ids=["nested-1000", "nested-10000", "int-4400-digits", "date-overflow", "meta-nested-900", "surrogate"],
)
def test_poison_records_are_dead_lettered_not_raised(value, reason):
    out = parse(value)
    assert isinstance(out, DeadLetter)
    if reason:
        assert out.reason == reason
    assert out.detail
    DeadLetter.model_validate_json(out.model_dump_json())


def test_a_record_without_a_usable_time_is_dead_lettered():
    out = parse(json.dumps({"id": "a", "text": "t"}).encode(), ts_ms=10**18)
    assert isinstance(out, DeadLetter) and out.reason == "no_event_time"


def test_an_unforeseen_failure_is_dead_lettered(monkeypatch):
    import finsent.scoring.validate as validate

    def boom(*a, **k):
        raise MemoryError("injected")

    monkeypatch.setattr(validate.NewsItem, "model_validate", boom)
    out = parse(json.dumps({"id": "a", "text": "t"}).encode())
    assert isinstance(out, DeadLetter) and out.reason == UNPROCESSABLE and "MemoryError" in out.detail


def _never_raises(value: bytes) -> None:
    out = parse(value)
    assert isinstance(out, NewsItem | DeadLetter)
    # What comes out must itself be writable to Kafka: a result that cannot be serialised would
    # fail the whole batch on every retry, which is the poison-record defect again.
    out.model_dump_json().encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000))
def test_fuzz_arbitrary_bytes(value):
    _never_raises(value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=40,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON | st.text(max_size=300),
        "text": JSON | st.text(max_size=300),
        "source": JSON | st.text(max_size=80),
        "published_at": JSON
        | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        | st.text(max_size=40),
        "topics": JSON | st.lists(st.text(max_size=70), max_size=40),
        "lang": JSON,
        "url": JSON,
        "meta": JSON,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON | FIELDS)
def test_fuzz_arbitrary_json(obj):
    _never_raises(json.dumps(obj).encode())


# -- 2. windows with buckets first seen out of order -------------------------------------------------
def test_a_bucket_first_seen_after_a_later_one_is_counted():
    w = TopicWindows(86_400)
    for minute in [0, 1, 2, *range(4, 11), 3]:  # the reproduction
        w.add(minute * 60 + 1, "negative", -1.0)
    assert w.window(8 * 60, 300).total == 5  # the whole minutes 3..7 before minute 8
    assert w.window(10 * 60, 3600).total == 10  # minutes 0..9
    assert w.window(10 * 60 + 30, 3600).total == 11  # within minute 10: it counts so far


def _partitioned(events: list, salt: int, n: int = 6) -> list[list]:
    """The events as `n` partitions would hold them (keyed by topic and id, with a stable hash)."""
    return [[e for e in events if zlib.crc32(f"{salt}:{e.topic}:{e.id}".encode()) % n == p] for p in range(n)]


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


def test_an_empty_partition_does_not_hold_the_clock_after_an_assignment():
    """After a (re)start, a partition whose end offset is where reading starts has nothing to
    wait for: alerts due from the other partitions' backlog come at once, not idle_s later."""
    clock = PartitionClock(idle_s=30.0)
    clock.assigned(["p0", "p1"], now=0.0, empty=["p1"])
    clock.delivered("p0", 1_000.0, now=0.5)
    assert clock.safe_time(now=0.5, clock=600.0) == 1_000.0
    clock.delivered("p1", 900.0, now=1.0)  # new data after all: it holds the clock again
    assert clock.safe_time(now=1.0, clock=600.0) == 900.0
    held = PartitionClock(idle_s=30.0)
    held.assigned(["p0", "p1"], now=0.0)
    held.delivered("p0", 1_000.0, now=0.5)
    assert held.safe_time(now=0.5, clock=600.0) == 600.0  # without the end offsets: held 30 s


def test_a_partition_that_has_not_delivered_holds_the_clock_until_it_goes_idle():
    clock = PartitionClock(idle_s=30.0)
    clock.assigned(["p0", "p1"], now=0.0)
    clock.delivered("p0", 1_000.0, now=1.0)
    assert clock.safe_time(now=1.0, clock=600.0) == 600.0  # p1 may still bring earlier minutes
    clock.delivered("p1", 900.0, now=2.0)
    assert clock.safe_time(now=2.0, clock=600.0) == 900.0  # the slowest partition's newest event
    assert clock.safe_time(now=31.5, clock=600.0) == 900.0  # p0 idle: p1 alone counts
    assert clock.safe_time(now=40.0, clock=600.0) == 1_000.0  # all idle: everything seen
    clock.assigned(["p2"], now=50.0)
    clock.delivered("p2", None, now=51.0)  # only unreadable records: silence, not a delivery
    assert clock.safe_time(now=79.0, clock=700.0) == 700.0
    assert clock.safe_time(now=81.0, clock=700.0) is None  # idle with nothing seen


def test_the_clock_stays_the_allowed_lateness_behind_until_every_partition_is_idle():
    clock = PartitionClock(idle_s=30.0, lateness_s=60.0)
    clock.assigned(["p0", "p1"], now=0.0)
    clock.delivered("p0", 1_000.0, now=1.0)
    clock.delivered("p1", 900.0, now=2.0)
    assert clock.safe_time(now=2.0, clock=600.0) == 840.0  # items up to 60 s late may still come
    assert clock.safe_time(now=31.5, clock=600.0) == 840.0  # p0 idle: p1 alone, still less 60 s
    assert clock.safe_time(now=40.0, clock=600.0) == 1_000.0  # all idle: nothing more is coming
    with pytest.raises(ValueError, match="lateness_s"):
        PartitionClock(idle_s=30.0, lateness_s=-1.0)


# -- 3. far-future (and far-past) event times -----------------------------------------------------
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


# -- 6. the scorer survives its sink failing for a long time ---------------------------------------
def test_delivery_failures_rebuild_the_producer_and_never_end_the_loop(tmp_path, monkeypatch):
    import finsent.scoring.scorer as scorer

    monkeypatch.setattr(scorer, "MAX_DELIVERY_BACKOFF_S", 0)  # no real waiting in a unit test
    rows = [{"id": str(i), "text": f"Acme item {i}"} for i in range(100)]
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(json.dumps(r) for r in rows))
    sink = ResettableSink(fail_writes=tuple(range(2, 12)))  # ten failures in a row: more than the old limit
    metrics = PipelineMetrics()
    source = ReplaySource(feed, max_batch=16)
    ScoringPipeline(
        source, FixedBackend(), sink, recent=RecentIds(1000, 60), metrics=metrics, options=PipelineOptions()
    ).run(threading.Event(), until=source.done)
    assert sorted(int(s.id) for s in sink.scored) == list(range(100))  # nothing lost, nothing twice
    assert sink.resets == 10
    assert metrics.registry.get_sample_value("finsent_produce_errors_total") == 10
    assert metrics.registry.get_sample_value("finsent_scorer_ready") == 1


def test_delivery_gives_up_after_produce_retries_when_it_is_set(tmp_path, monkeypatch):
    import finsent.scoring.scorer as scorer

    monkeypatch.setattr(scorer, "MAX_DELIVERY_BACKOFF_S", 0)
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(json.dumps({"id": str(i), "text": f"Acme item {i}"}) for i in range(50)))
    sink = ResettableSink(fail_writes=tuple(range(1, 50)))  # never delivers
    source = ReplaySource(feed, max_batch=16)
    pipeline = ScoringPipeline(
        source,
        FixedBackend(),
        sink,
        recent=RecentIds(1000, 60),
        metrics=PipelineMetrics(),
        options=PipelineOptions(produce_retries=3),
    )
    with pytest.raises(RuntimeError, match="injected produce failure"):
        pipeline.run(threading.Event(), until=source.done)
    assert sink.resets == 3  # three retries, then the fourth failure ends the loop
    assert sink.scored == []


# -- 8. only emitted alerts are counted -----------------------------------------------------------
def test_alerts_total_counts_what_is_published_not_what_is_derived():
    reg = CollectorRegistry()
    metrics = TopicMetrics(reg, WINDOWS, set(), 50)
    alerts = Aggregator(WINDOWS, DetectorConfig(), metrics=metrics).apply(burst_scenario())
    assert alerts
    # Deriving alerts (as a rebuild does) counts nothing; publishing counts each event once.
    assert reg.get_sample_value("finsent_alerts_total", {"severity": "critical", "status": "firing"}) is None
    AlertPublisher(None, "alerts", None, on_emitted=count_alert(metrics)).publish(alerts[:1])
    a = alerts[0]
    assert reg.get_sample_value("finsent_alerts_total", {"severity": a.severity, "status": a.status}) == 1


# -- 9. an outage is a few log lines, not a flood -------------------------------------------------
def test_library_errors_are_demoted_and_throttled():
    now = [0.0]
    throttle = LibraryLogThrottle(remind_s=60, clock=lambda: now[0])

    def record(name: str, level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, ("127.0.0.1:9092",), None)

    first = record("kafka.conn", logging.ERROR, "Connect attempt to %s returned error 111")
    assert throttle.filter(first) and first.levelno == logging.WARNING
    passed = 0
    for _ in range(100):
        now[0] += 0.25
        passed += throttle.filter(
            record("kafka.conn", logging.ERROR, "Connect attempt to %s returned error 111")
        )
    assert passed == 0  # 25 s of reconnects: held back
    now[0] += 40
    reminder = record("kafka.conn", logging.ERROR, "Connect attempt to %s returned error 111")
    assert throttle.filter(reminder) and "100 similar lines held back" in reminder.getMessage()
    own = record("finsent.scorer", logging.ERROR, "ours")
    assert throttle.filter(own) and own.levelno == logging.ERROR


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


__all__ = ["TopicScore"]
