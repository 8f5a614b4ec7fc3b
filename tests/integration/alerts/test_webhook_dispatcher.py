"""Webhook delivery from the alerts topic (real broker, real HTTP): what can never be delivered is
dead-lettered with its reason and does not hold back what follows; a delivered event is committed."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry

from finsent.alerts.dispatcher import WebhookDispatcher
from finsent.alerts.webhook import WebhookMetrics
from finsent.kafka.client import ProduceFailed, ensure_topics
from support.kafka import Topics, committed_total, consume, fresh_topics, produce
from support.scenarios import alert_event as event
from support.stack import free_port

pytestmark = pytest.mark.kafka


def receiver(got: list[str]) -> tuple[ThreadingHTTPServer, int]:
    """A webhook receiver on loopback: records each alert_id, answers 400 to `bad-request`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append(body["alert_id"])
            self.send_response(400 if body["alert_id"] == "bad-request" else 200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def alert_topics(kafka: str) -> tuple[Topics, str, str]:
    """A fresh consumer group with its own alerts topic and webhook dead-letter topic."""
    t = fresh_topics(kafka, partitions=1)
    alerts, dlq = t.news + ".alerts", t.news + ".alerts.dlq"
    ensure_topics(kafka, [alerts, dlq], 1)
    return t, alerts, dlq


def test_rejected_and_expired_events_are_dead_lettered_and_the_rest_delivered(kafka):
    t, alerts, dlq = alert_topics(kafka)
    got: list[str] = []
    server, port = receiver(got)
    now = datetime.now(UTC)
    produce(
        kafka,
        alerts,
        [
            event("old", now - timedelta(days=2)),
            event("bad-request", now),
            event("fine", now),
            b"not an alert",
        ],
    )
    reg = CollectorRegistry()
    d = WebhookDispatcher(
        kafka, alerts, t.group, [f"http://127.0.0.1:{port}/hook"], b"k", WebhookMetrics(reg), dlq_topic=dlq
    )
    try:
        deadline = time.monotonic() + 60
        while committed_total(kafka, t.group, alerts) < 4 and time.monotonic() < deadline:
            d.step(timeout_ms=200)
    finally:
        d.close()
        server.shutdown()
    dead = [json.loads(r.value) for r in consume(kafka, dlq, expect=3)]
    assert sorted(x["reason"] for x in dead) == ["expired", "invalid_event", "rejected"]
    assert got == ["bad-request", "fine"]  # the expired one is never POSTed
    assert committed_total(kafka, t.group, alerts) == 4
    assert reg.get_sample_value("finsent_webhook_dropped_total", {"reason": "rejected"}) == 1


def test_a_dead_letter_not_acknowledged_loses_nothing_after_it(kafka, monkeypatch):
    """The dead-letter write fails once (the broker did not acknowledge it): the batch is read again,
    so the invalid record is still dead-lettered and the events after it are still delivered."""
    import finsent.alerts.dispatcher as dispatcher

    t, alerts, dlq = alert_topics(kafka)
    got: list[str] = []
    server, port = receiver(got)
    now = datetime.now(UTC)
    produce(
        kafka, alerts, [event("first", now), b"not an alert", event("after-1", now), event("after-2", now)]
    )
    real, calls = dispatcher.produce_and_wait, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ProduceFailed("dead letter not acknowledged within 30s: injected")
        return real(*args, **kwargs)

    monkeypatch.setattr(dispatcher, "produce_and_wait", flaky)
    d = WebhookDispatcher(
        kafka,
        alerts,
        t.group,
        [f"http://127.0.0.1:{port}/hook"],
        b"k",
        WebhookMetrics(CollectorRegistry()),
        dlq_topic=dlq,
    )
    stop = threading.Event()
    worker = threading.Thread(target=d.run, args=(stop,), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while committed_total(kafka, t.group, alerts) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(15)
        d.close()
        server.shutdown()
    assert committed_total(kafka, t.group, alerts) == 4
    assert [json.loads(r.value)["reason"] for r in consume(kafka, dlq, expect=1)] == ["invalid_event"]
    assert {"after-1", "after-2"} <= set(got)  # "first" may come twice: at least once
