"""A broker outage mid-stream, on a broker of its own (the suite's shared broker stays up): the
scorer and the aggregator ride it out in-process and lose nothing, and the outage is a handful of
log lines, not a flood."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from finsent.kafka.client import ensure_topics
from support.broker import Broker, broker_for
from support.chaos import aggregator, key_of, now_utc, record_result, scaled, scorer, wait_for
from support.kafka import committed_total, consume, fresh_topics, produce
from support.scenarios import news_hour

pytestmark = [pytest.mark.kafka, pytest.mark.chaos]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    root = tmp_path_factory.getbasetemp()
    b = broker_for(root, "FINSENT_TEST_CHAOS_KAFKA_PORT", "chaos-kafka", heap="384m")
    b.run("start")
    yield b
    b.run("stop")


def library_lines(text: str) -> tuple[int, int]:
    """(ERROR lines, WARNING lines) logged by kafka-python."""
    errors = len(re.findall(r" ERROR kafka\.", text))
    warnings = len(re.findall(r" WARNING kafka\.", text))
    return errors, warnings


def test_broker_down_two_minutes_mid_stream(broker, model_repo, tmp_path):
    kafka = broker.bootstrap
    t = fresh_topics(kafka)
    ensure_topics(kafka, [t.news + ".by-topic", t.news + ".alerts", t.news + ".alerts.dlq"], 6)
    messages = news_hour(now_utc() - timedelta(minutes=65))
    half = len(messages) // 2
    s = scorer(kafka, t, model_repo, tmp_path / "scorer.log")
    a = aggregator(kafka, t, model_repo, tmp_path / "aggregator.log")
    outage_s = scaled(120)
    try:
        time.sleep(8)
        produce(kafka, t.news, messages[:half], keys=[key_of(m) for m in messages[:half]])
        wait_for(
            lambda: committed_total(kafka, t.group, t.news) >= half // 2, 60, 0.2, "scoring to start", show=s
        )
        broker.run("stop")  # mid-stream: part of the first half is still being scored
        down_at = time.monotonic()
        time.sleep(max(0.0, outage_s - (time.monotonic() - down_at)))
        ready_during = s.metrics().get("finsent_scorer_ready")
        broker.run("start")
        back_at = time.monotonic()
        produce(kafka, t.news, messages[half:], keys=[key_of(m) for m in messages[half:]])
        wait_for(
            lambda: committed_total(kafka, t.group, t.news) >= len(messages),
            180,
            0.5,
            "the scorer to finish",
            show=s,
        )
        scored_at = time.monotonic() - back_at
        by_topic = consume(kafka, t.news + ".by-topic", expect=1, timeout_s=30)
        wait_for(
            lambda: committed_total(kafka, t.group + "-agg", t.news + ".by-topic") >= len(by_topic),
            # Usually seconds (the figure recorded); the bound is generous because the scenario
            # shares 2 cores with the rest of the suite, and a stall shows the aggregator's log.
            300,
            0.5,
            "the aggregator to catch up",
            show=a,
        )
        caught_up_at = time.monotonic() - back_at
        alive = s.alive(), a.alive()
        ready_after = s.metrics().get("finsent_scorer_ready")
    finally:
        s.stop()
        a.stop()
    scored = {json.loads(r.value)["id"] for r in consume(kafka, t.scored, expect=len(messages))}
    ids = {json.loads(m)["id"] for m in messages}
    s_err, s_warn = library_lines(s.output())
    a_err, a_warn = library_lines(a.output())
    record_result(
        "broker-outage",
        {
            "outage_s": round(outage_s),
            "messages": len(messages),
            "lost": len(ids - scored),
            "scorer_committed_all_s_after_broker_back": round(scored_at, 1),
            "aggregator_caught_up_s_after_broker_back": round(caught_up_at, 1),
            "scorer_ready_during_outage": ready_during,
            "kafka_python_error_lines": s_err + a_err,
            "kafka_python_warning_lines": {"scorer": s_warn, "aggregator": a_warn},
        },
    )
    assert alive == (True, True)
    assert ids <= scored
    assert ready_during == 0
    assert ready_after == 1
    assert s_err + a_err == 0
    # About one line per kind of failure, plus one reminder a minute: tens, not thousands.
    assert s_warn + a_warn <= 60, (s_warn, a_warn)
