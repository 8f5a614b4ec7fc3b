"""Chaos on the alerting side, on the real broker: an aggregator SIGKILLed during a spike, and a
webhook receiver down for minutes while the aggregator is killed as well."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta

import pytest

from finsent.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from finsent.kafka.client import ensure_topics
from support.chaos import (
    aggregator,
    now_utc,
    produce_pairs,
    record_result,
    scaled,
    topic_scores,
    wait_for,
)
from support.kafka import consume, fresh_topics
from support.stack import WebhookReceiver

pytestmark = [pytest.mark.kafka, pytest.mark.chaos]

SECRET = "chaos-secret"


def keys(events: list[dict]) -> Counter:
    return Counter((e["alert_id"], e["status"], e["severity"]) for e in events)


def statuses(kafka: str, topic: str) -> list[dict]:
    return [json.loads(r.value) for r in consume(kafka, topic, expect=1, timeout_s=2, settle_s=0)]


def test_aggregator_sigkilled_during_a_spike_sends_each_event_once(kafka, model_repo, tmp_path):
    ref, victim = fresh_topics(kafka), fresh_topics(kafka)
    scores = ref.news + ".by-topic"
    ensure_topics(kafka, [scores, ref.news + ".alerts", victim.news + ".alerts"], 6)
    same_input = ("--topic-scores-topic", scores)
    start = now_utc() - timedelta(minutes=150)
    burst = range(100, 120)
    part1 = topic_scores(start, range(0, 105), burst=burst)
    part2 = topic_scores(start, range(105, 150), burst=burst)
    part2 = [p for p in part2 if json.loads(p[1])["published_at"] > json.loads(part1[-1][1])["published_at"]]
    r = aggregator(kafka, ref, model_repo, tmp_path / "ref.log", *same_input)
    v = aggregator(kafka, victim, model_repo, tmp_path / "victim.log", *same_input)
    try:
        time.sleep(6)
        produce_pairs(kafka, scores, part1)
        wait_for(lambda: any(e["status"] == "firing" for e in statuses(kafka, victim.news + ".alerts")), 60)
        v.kill()  # mid-spike: fired, not yet resolved
        produce_pairs(kafka, scores, part2)
        time.sleep(3)
        v = aggregator(kafka, victim, model_repo, tmp_path / "victim.log", *same_input)
        wait_for(lambda: any(e["status"] == "resolved" for e in statuses(kafka, ref.news + ".alerts")), 90)
        expected = keys(statuses(kafka, ref.news + ".alerts"))
        wait_for(lambda: keys(statuses(kafka, victim.news + ".alerts")) == expected, 90, 1, "the same alerts")
        time.sleep(3)  # nothing more may come
        got = keys(statuses(kafka, victim.news + ".alerts"))
        restarted_counted = sum(val for k, val in v.metrics().items() if k.startswith("finsent_alerts_total"))
    finally:
        r.stop()
        v.stop()
    record_result(
        "aggregator-sigkill",
        {
            "alert_events_uninterrupted": sum(expected.values()),
            "alert_events_killed_and_restarted": sum(got.values()),
            "events": sorted(f"{s}/{sev}" for _, s, sev in got),
            "alerts_total_after_restart": restarted_counted,
        },
    )
    assert got == expected
    assert all(n == 1 for n in got.values())
    # The restarted process counts only what it sent itself (the resolve), not the replayed firing.
    sent_after_restart = sum(1 for _, s, _ in got if s == "resolved")
    assert restarted_counted == sent_after_restart


def test_webhook_receiver_down_and_aggregator_killed_delivers_everything(kafka, model_repo, tmp_path):
    t = fresh_topics(kafka)
    ensure_topics(kafka, [t.news + ".by-topic", t.news + ".alerts", t.news + ".alerts.dlq"], 6)
    rx = WebhookReceiver()
    port = rx.port
    rx.close()  # the receiver is down from the start
    rx.server.server_close()
    hooks = ("--webhook-urls", f"http://127.0.0.1:{port}/hook", "--webhook-backoff-max", "10s")
    env = {"FINSENT_WEBHOOK_SECRET": SECRET}
    a = aggregator(kafka, t, model_repo, tmp_path / "agg.log", *hooks, env=env)
    down_s = scaled(180)
    went_down = time.monotonic()
    try:
        time.sleep(6)
        produce_pairs(
            kafka,
            t.news + ".by-topic",
            topic_scores(now_utc() - timedelta(minutes=150), range(150), burst=range(100, 120)),
        )
        on_topic = wait_for(
            lambda: (
                [e for e in statuses(kafka, t.news + ".alerts") if e["status"] == "resolved"]
                and statuses(kafka, t.news + ".alerts")
            ),
            90,
            1,
            "alerts on the topic",
        )
        time.sleep(min(10, down_s / 4))
        a.kill()  # while the receiver is still down: its retries die with it
        a = aggregator(kafka, t, model_repo, tmp_path / "agg.log", *hooks, env=env)
        time.sleep(max(0, down_s - (time.monotonic() - went_down)))
        rx = WebhookReceiver(port=port)
        came_back = time.monotonic()
        expected = keys(on_topic)
        wait_for(
            lambda: set(keys([r.json() for r in rx.on("/hook")])) >= set(expected),
            120,
            1,
            "every event delivered",
        )
        delivered_after = time.monotonic() - came_back
        got = [r for r in rx.on("/hook")]
        dead = consume(kafka, t.news + ".alerts.dlq", expect=1, timeout_s=3, settle_s=0)
    finally:
        a.stop()
        rx.close()
    for r in got:
        assert verify(SECRET.encode(), r.headers[TIMESTAMP_HEADER], r.body, r.headers[SIGNATURE_HEADER])
    counts = keys([r.json() for r in got])
    record_result(
        "webhook-outage",
        {
            "receiver_down_s": round(down_s),
            "alert_events": sum(expected.values()),
            "delivered": sum(counts.values()),
            "duplicates": sum(counts.values()) - len(counts),
            "all_delivered_s_after_receiver_back": round(delivered_after, 1),
            "dead_lettered": len(dead),
        },
    )
    assert set(counts) == set(expected)
    assert dead == []
