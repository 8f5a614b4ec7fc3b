"""Topic extraction, windows, idempotent aggregation, the spike detector, metrics bounds, webhooks."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import pytest
from prometheus_client import CollectorRegistry

from finsent.aggregate.aggregator import Aggregator
from finsent.aggregate.detector import DetectorConfig, assess
from finsent.aggregate.topic_metrics import TopicMetrics
from finsent.aggregate.windows import TopicWindows, parse_window
from finsent.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookMetrics, WebhookSender, verify
from finsent.contracts.alert import AlertEvent
from finsent.topics.extract import TopicExtractor, load_entities
from support.scenarios import T0, WINDOWS, burst_scenario, ev

# --- topics -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor() -> TopicExtractor:
    return TopicExtractor(load_entities())


def test_extracts_cashtags_aliases_and_sectors(extractor):
    topics = extractor.topics("Bank of America and $JPM rally; Apple flat", None)
    assert topics[:2] == ["JPM", "sector:banks"]
    assert {"BAC", "AAPL", "sector:technology"} <= set(topics)


def test_word_boundaries_and_case(extractor):
    assert extractor.topics("I ate an apple and a pineapple", None) == []  # case-sensitive alias
    assert extractor.topics("Fordham University news", None) == []  # no match inside a word
    assert extractor.topics("costs $5 and $5.2bn", None) == []  # dollar amounts are not cashtags
    assert "F" in extractor.topics("Ford recalls trucks", None)


def test_producer_topics_are_normalised(extractor):
    assert extractor.topics("no names here", ["aapl", "Microsoft", "Banks", "my-custom-topic"]) == [
        "AAPL",
        "sector:technology",
        "MSFT",
        "sector:banks",
        "my-custom-topic",
    ]


def test_unknown_cashtag_is_kept(extractor):
    assert extractor.topics("$ZZZQ to the moon", None) == ["ZZZQ"]


# --- windows and aggregation --------------------------------------------------------------------------


def test_windows_count_by_event_time():
    w = TopicWindows(horizon_s=3600)
    base = T0.timestamp()
    w.add(base, "negative", -0.9)
    w.add(base + 120, "positive", 0.8)
    w.add(base + 1000, "neutral", 0.0)
    now = base + 1000
    assert w.window(now, 300).total == 1
    assert w.window(now, 3600).total == 3
    assert w.window(now, 3600).negative_share == pytest.approx(1 / 3)
    w.expire(base + 3600 * 3)
    assert len(w) == 0


def test_parse_window():
    assert parse_window("5m") == 300 and parse_window("24h") == 86400 and parse_window("90s") == 90
    with pytest.raises(ValueError):
        parse_window("5 minutes")
    with pytest.raises(ValueError):
        parse_window("0s")  # a window of nothing
    assert parse_window("0s", allow_zero=True) == 0  # a setting whose zero means off


def test_the_allowed_lateness_setting_takes_zero_and_rejects_what_is_not_a_duration():
    from pydantic import ValidationError

    from finsent.app.configs import allowed_lateness_s
    from finsent.settings import Settings

    assert allowed_lateness_s(Settings()) == 60
    assert allowed_lateness_s(Settings(aggregate_allowed_lateness="0s")) == 0
    for bad in ("-5s", "a minute", ""):
        with pytest.raises(ValidationError, match="aggregate_allowed_lateness"):
            Settings(aggregate_allowed_lateness=bad)


def agg(**kw) -> Aggregator:
    return Aggregator(WINDOWS, DetectorConfig(), **kw)


def test_replay_counts_nothing_twice():
    reg = CollectorRegistry()
    metrics = TopicMetrics(reg, WINDOWS, set(), 50)
    a = agg(metrics=metrics)
    events = [
        ev(i, "AAPL", i * 0.5, "negative" if i % 3 == 0 else "neutral", -0.5 if i % 3 == 0 else 0.0)
        for i in range(40)
    ]
    a.apply(events)
    before = a.topics["AAPL"].windows.window(a.watermark_s, 3600)
    a.apply(events)  # the same items again
    a.apply(list(reversed(events[:10])))
    after = a.topics["AAPL"].windows.window(a.watermark_s, 3600)
    assert (after.total, after.negative) == (before.total, before.negative) == (40, 14)
    assert a.duplicates == 50
    assert reg.get_sample_value("finsent_topic_items_total", {"topic": "AAPL", "label": "negative"}) == 14
    assert reg.get_sample_value("finsent_aggregate_duplicates_total") == 50


def test_spike_fires_for_the_burst_topic_only_with_evidence():
    a = agg()
    alerts = a.apply(burst_scenario())
    firing = [x for x in alerts if x.status == "firing"]
    assert {x.topic for x in firing} == {"BA"}
    first = firing[0]
    assert first.started_at >= T0 + timedelta(minutes=100)
    assert first.started_at <= T0 + timedelta(minutes=104)  # within 4 minutes of event time
    assert first.evidence and all(e.score <= -0.9 for e in first.evidence)
    assert first.model is not None and first.model.version == "1"
    AlertEvent.model_validate_json(first.model_dump_json())


def test_batching_does_not_change_what_fires():
    events = burst_scenario()
    whole = [(x.topic, x.status, x.started_at) for x in agg().apply(events)]
    a = agg()
    pieces = []
    for i in range(0, len(events), 97):
        pieces += [(x.topic, x.status, x.started_at) for x in a.apply(events[i : i + 97])]
    assert pieces == whole


def test_steady_noisy_topics_never_fire():
    """A day of 20 topics at 3 items/min with 15% random negatives: no alert."""
    rng = random.Random(11)
    a = agg()
    fired = []
    for minute in range(24 * 60):
        batch = []
        for t in range(20):
            for k in range(3):
                neg = rng.random() < 0.15
                batch.append(
                    ev(
                        f"{t}-{minute}-{k}",
                        f"T{t}",
                        minute + k / 3,
                        "negative" if neg else "neutral",
                        -0.7 if neg else 0.1,
                    )
                )
        fired += a.apply(batch)
    assert fired == []


def test_hysteresis_and_cooldown():
    cfg = DetectorConfig(cooldown_s=900)
    a = Aggregator(WINDOWS, cfg)
    events = [ev(f"b{m}", "X", m, "neutral") for m in range(0, 60, 2)]
    events += [ev(f"n{m}-{k}", "X", 60 + m + k / 5, "negative", -1) for m in range(5) for k in range(5)]
    events += [ev(f"q{m}", "X", 66 + m, "neutral") for m in range(30)]
    events += [ev(f"n2{m}-{k}", "X", 100 + m + k / 5, "negative", -1) for m in range(5) for k in range(5)]
    kinds = [(x.status, round((x.event_time - T0).total_seconds() / 60)) for x in a.apply(events)]
    assert kinds[0][0] == "firing" and kinds[1][0] == "resolved"
    # the second burst starts ~34 minutes after the resolve: past the 15-minute cooldown, so it fires
    assert [k for k, _ in kinds] == ["firing", "resolved", "firing"]


def test_assess_uses_prior_for_quiet_topics():
    cfg = DetectorConfig()
    a = assess(cfg, short_negative=3, short_total=3, base_negative=0, base_total=0)
    assert a.baseline == pytest.approx(0.2)  # the prior, not 0
    assert a.volume == 3


def test_memory_is_bounded():
    a = Aggregator(WINDOWS, DetectorConfig(), max_topics=5, max_seen=100)
    a.apply([ev(i, f"T{i}", i / 100) for i in range(300)])
    assert len(a.topics) <= 5 and len(a.seen) <= 100
    a.apply([ev("late", "T0", 0), ev("z", "T1", 60 * 30)])
    a.apply([ev("older-than-horizon", "T2", 0.5)])
    assert a.late == 1


def test_topic_label_cardinality_is_bounded():
    reg = CollectorRegistry()
    metrics = TopicMetrics(reg, WINDOWS, {"BA"}, 2)
    a = Aggregator(WINDOWS, DetectorConfig(), metrics=metrics)
    a.apply([ev(i, f"T{i}", i) for i in range(10)] + [ev("ba", "BA", 11)])
    labels = {s.labels["topic"] for m in reg.collect() if m.name == "finsent_topic_items" for s in m.samples}
    assert labels == {"T0", "T1", "other", "BA"}
    assert reg.get_sample_value("finsent_topic_items_total", {"topic": "other", "label": "neutral"}) == 8
    assert reg.get_sample_value("finsent_topic_label_overflow_total") == 8


# --- webhooks -----------------------------------------------------------------------------------------


class Receiver:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.got = statuses, []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((dict(self.headers), body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=abc"


def alert(topic: str = "BA") -> AlertEvent:
    return AlertEvent(
        alert_id="a1",
        status="firing",
        topic=topic,
        severity="critical",
        negative_share=0.9,
        baseline=0.1,
        zscore=9.0,
        volume=20,
        window_s=300,
        started_at=T0,
        event_time=T0,
        generated_at=T0,
    )


def test_webhook_is_signed_and_retried(caplog):
    rx = Receiver([503, 500, 200])
    reg = CollectorRegistry()
    sender = WebhookSender([rx.url], b"s3cret-key", WebhookMetrics(reg), backoff_s=0.01)
    sender.submit(alert())
    assert sender.drain(10)
    sender.close()
    rx.server.shutdown()
    assert len(rx.got) == 3
    headers, body = rx.got[-1]
    assert AlertEvent.model_validate_json(body).topic == "BA"
    assert verify(b"s3cret-key", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify(b"wrong", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify(b"s3cret-key", headers[TIMESTAMP_HEADER], body + b" ", headers[SIGNATURE_HEADER])
    assert reg.get_sample_value("finsent_webhook_deliveries_total", {"result": "ok"}) == 1
    assert reg.get_sample_value("finsent_webhook_deliveries_total", {"result": "http_5xx"}) == 2
    assert "s3cret" not in caplog.text and "token=abc" not in caplog.text


def test_webhook_gives_up_and_queue_is_bounded():
    rx = Receiver([400] * 10)
    reg = CollectorRegistry()
    sender = WebhookSender([rx.url], None, WebhookMetrics(reg), backoff_s=0.01, max_queue=2, max_attempts=3)
    for i in range(6):
        sender.submit(alert(f"T{i}"))
    assert sender.drain(10)
    sender.close()
    rx.server.shutdown()
    assert reg.get_sample_value("finsent_webhook_dropped_total", {"reason": "queue_full"}) >= 1
    assert len(rx.got) <= 6  # a 400 is not retried
    assert reg.get_sample_value("finsent_webhook_deliveries_total", {"result": "http_4xx"}) == len(rx.got)


def test_stale_signature_is_rejected():
    body = b"{}"
    old = str(int(time.time()) - 3600)
    from finsent.alerts.webhook import sign

    assert not verify(b"k", old, body, sign(b"k", old, body))
