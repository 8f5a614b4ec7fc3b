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
from finsent.kafka.client import ensure_topics
from support.kafka import committed_total, consume, fresh_topics, produce
from support.scenarios import alert_event as event
from support.stack import free_port

pytestmark = pytest.mark.kafka


def test_rejected_and_expired_events_are_dead_lettered_and_the_rest_delivered(kafka):
    t = fresh_topics(kafka, partitions=1)
    alerts, dlq = t.news + ".alerts", t.news + ".alerts.dlq"
    ensure_topics(kafka, [alerts, dlq], 1)
    got: list[str] = []

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
