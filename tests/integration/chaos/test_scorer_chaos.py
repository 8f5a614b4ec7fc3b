"""Chaos on the scoring side, on the real broker: SIGKILLs mid-stream, a backlog with a spike,
poison and far-future records in the stream. Run by hand: `.venv/bin/pytest tests/integration/chaos -s`."""

from __future__ import annotations

import json
import random
import statistics
import time
from datetime import timedelta

import pytest

from finsent.kafka.client import ensure_topics
from support.chaos import (
    aggregator,
    key_of,
    now_utc,
    record_result,
    scorer,
    wait_for,
)
from support.kafka import committed_total, consume, fresh_topics, news, produce
from support.scenarios import news_hour

pytestmark = [pytest.mark.kafka, pytest.mark.chaos]


def all_topics(kafka: str, news_partitions: int):
    """The input on `news_partitions`; FinSent's own topics on 6, as `finsent` creates them."""
    t = fresh_topics(kafka, news_partitions)
    ensure_topics(kafka, [t.news + ".by-topic", t.news + ".alerts", t.news + ".alerts.dlq"], 6)
    return t


def firing(kafka: str, topic: str, name: str = "BA") -> list[dict]:
    events = [json.loads(r.value) for r in consume(kafka, topic, expect=1, timeout_s=2, settle_s=0)]
    return [e for e in events if e["topic"] == name and e["status"] == "firing"]


@pytest.mark.parametrize("membership", ["dynamic", "static"])
def test_scorer_sigkilled_repeatedly_loses_nothing(kafka, model_repo, tmp_path, membership):
    t = all_topics(kafka, 6)
    extra = ("--kafka-group-instance-id", "scorer-0") if membership == "static" else ()
    n = 4_000
    ids = [f"k{i}" for i in range(n)]
    produce(kafka, t.news, [news(i) for i in ids])
    rng = random.Random(11)
    # Kill at points of the committed progress, not after a fixed time: a faster machine must not
    # finish the stream before the third kill (it did, with static membership's quick restarts).
    targets = [rng.uniform(k / 5, k / 5 + 0.1) * n for k in (1, 2, 3)]
    killed_at, restarts = [], []
    proc = scorer(kafka, t, model_repo, tmp_path / "scorer.log", *extra)
    for target in [*targets, None]:
        before = committed_total(kafka, t.group, t.news)
        started = time.monotonic()
        # Scoring again: the group's committed total moves past where the last process left it.
        wait_for(
            lambda b=before: committed_total(kafka, t.group, t.news) > b, 90, 0.2, "the scorer to commit"
        )
        restarts.append(round(time.monotonic() - started, 1))
        if target is None:
            break
        wait_for(lambda x=target: committed_total(kafka, t.group, t.news) >= x, 90, 0.05, "progress")
        killed_at.append(committed_total(kafka, t.group, t.news))
        proc.kill()  # mid-stream, at whatever point of a batch the scorer is in
        proc = scorer(kafka, t, model_repo, tmp_path / "scorer.log", *extra)
    wait_for(lambda: committed_total(kafka, t.group, t.news) >= n, 180, 0.5, "all records committed")
    proc.stop()
    scored = consume(kafka, t.scored, expect=n, timeout_s=60)
    got = [json.loads(r.value)["id"] for r in scored]
    assert len(killed_at) == 3 and max(killed_at) < n, f"not every kill was mid-stream: {killed_at}"
    assert set(got) == set(ids), f"{len(set(ids) - set(got))} ids never scored"
    figures = {
        "messages": n,
        "sigkills": len(killed_at),
        "committed_at_kills": killed_at,
        "lost": len(set(ids) - set(got)),
        "scored_records": len(got),
        "rescored_after_kills": len(got) - len(set(got)),
        "seconds_from_start_to_first_commit": restarts,
    }
    record_result(f"scorer-sigkill-{membership}", figures)
    # A restarted scorer works again within its own start-up time (the first start's: it has no dead
    # member to wait for) plus the session timeout (10 s) with dynamic membership; with static
    # membership it takes its predecessor's place without waiting for the session at all. Measured
    # against the first start, not in absolute seconds: start-up (imports, the model) takes twice as
    # long when the suite's workers share the cores, and waiting out a session does not.
    slack = 12 if membership == "dynamic" else 5
    assert statistics.median(restarts[1:]) <= restarts[0] + slack, restarts


@pytest.mark.parametrize("partitions", [1, 6])
def test_backlog_hour_with_a_spike_fires(kafka, model_repo, tmp_path, partitions):
    t = all_topics(kafka, partitions)
    messages = news_hour(now_utc() - timedelta(minutes=70))
    # No keys: the producer spreads them, so partitions hold interleaved slices of the hour.
    produce(kafka, t.news, messages)
    produced = time.monotonic()
    s = scorer(kafka, t, model_repo, tmp_path / "scorer.log")
    a = aggregator(kafka, t, model_repo, tmp_path / "aggregator.log")
    try:
        fired = wait_for(lambda: firing(kafka, t.news + ".alerts"), 180, 1, "the backlog spike to fire")
        seconds = time.monotonic() - produced
    finally:
        s.stop()
        a.stop()
    started = {e["started_at"] for e in fired}
    record_result(
        f"backlog-{partitions}p",
        {
            "messages": len(messages),
            "partitions": partitions,
            "fired_after_s": round(seconds, 1),
            "started_at": sorted(started),
        },
    )
    assert all(e["severity"] in ("warning", "critical") for e in fired)


POISON = [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"id": "big", "text": "t", "n": ' + b"7" * 4_400 + b"}",
    b'{"id": "late", "text": "Acme", "published_at": "9999-12-31T23:59:59-14:00"}',
    b"\xff\xfe not utf-8",
    b"{broken",
]


def test_poison_and_far_future_records_do_not_stop_the_stream(kafka, model_repo, tmp_path):
    t = all_topics(kafka, 6)
    messages = news_hour(now_utc() - timedelta(minutes=65))
    future = json.dumps(
        {
            "id": "from-2999",
            "text": "Apple shares rise",
            "topics": ["AAPL"],
            "published_at": "2999-01-01T00:00:00Z",
        }
    ).encode()
    s = scorer(kafka, t, model_repo, tmp_path / "scorer.log")
    a = aggregator(kafka, t, model_repo, tmp_path / "aggregator.log")
    try:
        time.sleep(8)  # both groups joined: this is a live stream, not a backlog
        thirds = [messages[i::3] for i in range(3)]
        produce(kafka, t.news, [future, *POISON[:2]])  # the poison comes first, before any spike data
        for i, part in enumerate(sorted(thirds, key=len)):
            part = sorted(part, key=lambda m: json.loads(m)["published_at"])
            produce(kafka, t.news, part, keys=[key_of(m) for m in part])
            if i == 0:
                produce(kafka, t.news, POISON[2:])
            time.sleep(2)
        fired = wait_for(lambda: firing(kafka, t.news + ".alerts"), 120, 1, "the spike to fire")
        dead = consume(kafka, t.dlq, expect=len(POISON), timeout_s=30)
        wait_for(lambda: committed_total(kafka, t.group, t.news) >= len(messages) + len(POISON) + 1, 60)
        clamped = s.metrics().get('finsent_event_time_clamped_total{direction="future"}')
        alive = s.alive() and a.alive()
    finally:
        s.stop()
        a.stop()
    reasons = sorted(json.loads(r.value)["reason"] for r in dead)
    scored = {
        json.loads(r.value)["id"]: json.loads(r.value)
        for r in consume(kafka, t.scored, expect=len(messages) + 1)
    }
    record_result(
        "poison-and-far-future",
        {
            "messages": len(messages),
            "poison": len(POISON),
            "dead_letter_reasons": reasons,
            "clamped_future": clamped,
        },
    )
    assert alive
    assert len(dead) == len(POISON)
    assert reasons == sorted(["invalid_json", "invalid_json", "invalid_field", "not_utf8", "invalid_json"])
    assert scored["from-2999"]["event_time_clamped"] == "future"
    assert scored["from-2999"]["published_at"].startswith("2999")
    assert clamped == 1
    assert fired
