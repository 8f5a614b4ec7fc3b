"""The whole alerting path on real components: Kafka -> scorer -> aggregator -> FinSent's webhook,
and aggregator metrics -> Prometheus (shipped rules) -> Alertmanager (shipped config) -> webhook.

Scenario: 80 minutes of event time on five tickers. Four are steady (3 items/min, ~12% negative
texts, random); Pfizer is quiet and then gets a 10-minute negative burst at the end. Bounds stated
here: FinSent's webhook fires within 60 s and Alertmanager's within 90 s of the messages being
produced, for Pfizer (and its sector, which has no other member here) and nothing else. A retraining
scheduler (after one real run on a tiny model) is scraped too, so the dashboard's retraining row is
checked against real metrics."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from finsent.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from finsent.contracts.alert import AlertEvent
from finsent.contracts.event_type import EVENT_TYPES
from finsent.kafka.client import ensure_topics
from support.kafka import REPO, Topics, finsent_args, fresh_topics, produce
from support.retraining import make_workspace
from support.scenarios import STEADY, news_stream
from support.stack import (
    Process,
    WebhookReceiver,
    free_port,
    query,
    scrape,
    start_alertmanager,
    start_prometheus,
)

pytestmark = pytest.mark.kafka

SECRET = "test-webhook-secret"
BURST = ("PFE", "Pfizer")
EXPECTED = {"PFE", "sector:healthcare"}
# Negative templates the demo model reads as negative, each item with a figure of its own: the
# story novelty filter counts copies of one headline once, and five fixed texts are five stories.
BURST_TEXTS = [
    "${t} dumping hard after the {n} million guidance cut",
    "{c} faces mounting safety questions after defect report on {n} units",
    "{c} lowers its sales forecast, citing weak orders and {n} job cuts",
    "Investigation launched into {c} over ${n} million of reporting irregularities",
    "{c} posts unexpected ${n} million loss in latest quarter",
]
FINSENT_BOUND_S = 60
ALERTMANAGER_BOUND_S = 90


def scenario(now: datetime) -> list[bytes]:
    """80 minutes ending now: the steady tickers at 3 items a minute, 12% negative; Pfizer quiet
    (a neutral item every other minute), then 5 negative items a minute for the last 10."""
    return news_stream(
        now - timedelta(minutes=80),
        minutes=80,
        burst=BURST,
        burst_minutes=range(70, 80),
        burst_per_minute=5,
        steady_per_minute=3,
        mix=(0.12, 0.5, 0.38),
        quiet_every=2,
        burst_texts=BURST_TEXTS,
        seed=2026,
        source="test",
    )


def keys(messages: list[bytes]) -> list[bytes]:
    return [json.loads(m)["topics"][0].encode() for m in messages]


class FinsentProcess:
    def __init__(
        self,
        command: str,
        bootstrap: str,
        topics: Topics,
        model_repo: Path,
        log: Path,
        *extra: str,
        env: dict[str, str] | None = None,
    ):
        args = [
            *finsent_args(command, bootstrap, topics, model_repo),
            "--topic-scores-topic",
            topics.news + ".by-topic",
            "--alerts-topic",
            topics.news + ".alerts",
            "--aggregate-group-id",
            topics.group + "-agg",
            *extra,
        ]
        self.process = Process(args, log, env=env)

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture(scope="module")
def stack(kafka, model_repo, tmp_path_factory):
    work = tmp_path_factory.mktemp("stack")
    topics = fresh_topics(kafka)
    ensure_topics(kafka, [topics.news + ".by-topic", topics.news + ".alerts"], 6)
    rx = WebhookReceiver()
    am_proc, am_addr = start_alertmanager(work, rx.url("/alertmanager"))
    scorer_port, agg_port, retrain_port = free_port(), free_port(), free_port()
    prom_proc, prom = start_prometheus(
        work,
        {
            "finsent-scorer": f"127.0.0.1:{scorer_port}",
            "finsent-aggregator": f"127.0.0.1:{agg_port}",
            "finsent-retrain": f"127.0.0.1:{retrain_port}",
        },
        am_addr,
    )
    retraining = make_workspace(work / "retrain", work / "tiny-bert")
    assert (
        retraining.finsent("labels", "import", str(retraining.label_file("ana.csv", "ana"))).returncode == 0
    )
    assert "promoted" in retraining.finsent("retrain").stdout
    scheduler = Process(
        retraining.finsent_argv("scheduler"),
        work / "scheduler.log",
        env={**retraining.env, "FINSENT_RETRAIN_METRICS_PORT": str(retrain_port)},
    )
    scorer = FinsentProcess(
        "run", kafka, topics, model_repo, work / "scorer.log", "--metrics-port", str(scorer_port)
    )
    agg_args = (
        "--aggregate-metrics-port",
        str(agg_port),
        # The burst topic's event mix (per-topic event-type series exist for allow-listed topics only).
        "--topic-allow",
        BURST[0],
        "--webhook-urls",
        rx.url("/finsent"),
    )
    # The secret from a file, as an orchestrator mounts it (secrets are never flags).
    secret_file = work / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    aggregator = FinsentProcess(
        "aggregate",
        kafka,
        topics,
        model_repo,
        work / "aggregator.log",
        *agg_args,
        env={"FINSENT_WEBHOOK_SECRET_FILE": str(secret_file)},
    )
    time.sleep(6)  # both consumer groups join before data arrives
    messages = scenario(datetime.now(UTC))
    # A few malformed records too: the dead-letter panels must have data.
    # Keyed by ticker, as a wire feed would be: each ticker's items stay in event-time order.
    produce(
        kafka, topics.news, [*messages, b"{broken", b'{"id": "no-text"}'], keys=[*keys(messages), None, None]
    )
    produced_at = time.monotonic()
    state = {
        "kafka": kafka,
        "topics": topics,
        "model_repo": model_repo,
        "work": work,
        "rx": rx,
        "prom": prom,
        "agg_port": agg_port,
        "scorer_port": scorer_port,
        "produced_at": produced_at,
        "messages": messages,
        "aggregator": aggregator,
        "scorer": scorer,
        "agg_args": agg_args,
    }
    yield state
    state["scorer"].stop()
    state["aggregator"].stop()
    scheduler.stop()
    prom_proc.stop()
    am_proc.stop()
    rx.close()


def wait_for(predicate, timeout_s: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def finsent_alerts(rx: WebhookReceiver) -> list[AlertEvent]:
    return [AlertEvent.model_validate_json(r.body) for r in rx.on("/finsent")]


def test_finsent_webhook_fires_for_the_burst_topic_only(stack):
    rx = stack["rx"]
    wait_for(
        lambda: {a.topic for a in finsent_alerts(rx) if a.status == "firing"} >= EXPECTED,
        FINSENT_BOUND_S,
        "FinSent's webhook for the burst",
    )
    first = min(r.at for r in rx.on("/finsent"))
    assert first - stack["produced_at"] <= FINSENT_BOUND_S
    # Let the rest of the stream through before judging the steady topics.
    agg = f"http://127.0.0.1:{stack['agg_port']}/metrics"
    n = len(stack["messages"])
    wait_for(
        lambda: sum(v for k, v in scrape(agg).items() if k.startswith("finsent_topic_items_total")) >= n,
        60,
        "the aggregator to count every item",
    )
    time.sleep(2)
    alerts = finsent_alerts(rx)
    assert {a.topic for a in alerts} == EXPECTED, [(a.topic, a.status, a.zscore) for a in alerts]
    for r in rx.on("/finsent"):
        assert verify(SECRET.encode(), r.headers[TIMESTAMP_HEADER], r.body, r.headers[SIGNATURE_HEADER])
    pfe = next(a for a in alerts if a.topic == "PFE" and a.status == "firing")
    assert pfe.evidence and all(e.score < 0 for e in pfe.evidence)
    assert pfe.model is not None and pfe.model.name == "finsent_sentiment"
    # The demo model has an event-type head: the webhook says what the burst's negatives are about,
    # and the counts add up to the window's negatives.
    assert pfe.negative_event_types, pfe
    assert {c.event_type for c in pfe.negative_event_types} <= set(EVENT_TYPES)
    assert sum(c.count for c in pfe.negative_event_types) == round(pfe.negative_share * pfe.volume)
    assert all(e.event_type in EVENT_TYPES for e in pfe.evidence)


def test_alertmanager_webhook_fires_for_the_burst_topic_only(stack):
    rx = stack["rx"]

    def am_topics() -> set[str]:
        return {
            a["labels"].get("topic")
            for r in rx.on("/alertmanager")
            for a in r.json()["alerts"]
            if a["status"] == "firing" and a["labels"]["alertname"] == "NegativeSentimentSpike"
        }

    wait_for(lambda: "PFE" in am_topics(), ALERTMANAGER_BOUND_S, "Alertmanager's webhook for PFE")
    assert min(r.at for r in rx.on("/alertmanager")) - stack["produced_at"] <= ALERTMANAGER_BOUND_S
    time.sleep(3)
    assert am_topics() <= EXPECTED, am_topics()
    # Prometheus agrees: the spike rule fires for nothing else.
    firing = query(stack["prom"], 'ALERTS{alertname="NegativeSentimentSpike",alertstate="firing"}')
    assert {s["metric"]["topic"] for s in firing} <= EXPECTED


def test_replay_fires_nothing_new_and_changes_no_count(stack):
    test_finsent_webhook_fires_for_the_burst_topic_only(stack)  # the stream has been fully counted
    rx, agg = stack["rx"], f"http://127.0.0.1:{stack['agg_port']}/metrics"
    before = {k: v for k, v in scrape(agg).items() if k.startswith("finsent_topic_items_total")}
    sent_before = len(rx.on("/finsent"))
    dup_before = scrape(agg).get("finsent_aggregate_duplicates_total", 0)
    # A fresh scorer (empty de-dup memory) re-scores the same messages sent again: every per-topic
    # record reaches the aggregator a second time.
    stack["scorer"].stop()
    stack["scorer"] = FinsentProcess(
        "run",
        stack["kafka"],
        stack["topics"],
        stack["model_repo"],
        stack["work"] / "scorer2.log",
        "--metrics-port",
        str(stack["scorer_port"]),
    )
    produce(stack["kafka"], stack["topics"].news, stack["messages"], keys=keys(stack["messages"]))
    expected_dups = sum(before.values())
    wait_for(
        lambda: scrape(agg).get("finsent_aggregate_duplicates_total", 0) - dup_before >= expected_dups,
        90,
        "the replayed records to reach the aggregator",
    )
    time.sleep(2)
    after = {k: v for k, v in scrape(agg).items() if k.startswith("finsent_topic_items_total")}
    assert after == before
    assert len(rx.on("/finsent")) == sent_before


def test_restart_rebuilds_state_without_new_or_lost_alerts(stack):
    test_finsent_webhook_fires_for_the_burst_topic_only(stack)
    rx, agg = stack["rx"], f"http://127.0.0.1:{stack['agg_port']}/metrics"
    before = scrape(agg)
    counts = {k: v for k, v in before.items() if k.startswith("finsent_topic_items_total")}
    assert before['finsent_topic_alert_state{topic="PFE"}'] >= 1
    sent_before = len(rx.on("/finsent"))
    stack["aggregator"].stop()
    stack["aggregator"] = FinsentProcess(
        "aggregate",
        stack["kafka"],
        stack["topics"],
        stack["model_repo"],
        stack["work"] / "aggregator2.log",
        *stack["agg_args"],
    )

    def rebuilt() -> dict[str, float]:
        now = _safe_scrape(agg)
        done = {k: v for k, v in now.items() if k.startswith("finsent_topic_items_total")} == counts
        # The clock must be back where it was: gauges are also set while it catches up.
        clock = (
            now.get("finsent_aggregate_event_time_seconds", 0)
            >= before["finsent_aggregate_event_time_seconds"]
        )
        return now if done and clock else {}

    after = wait_for(rebuilt, 60, "the restarted aggregator to rebuild its state")
    assert after['finsent_topic_alert_state{topic="PFE"}'] >= 1  # the spike in progress is remembered
    for topic in STEADY:
        assert after[f'finsent_topic_alert_state{{topic="{topic}"}}'] == 0  # and none is invented
    time.sleep(3)
    assert len(rx.on("/finsent")) == sent_before


def _safe_scrape(url: str) -> dict[str, float]:
    try:
        return scrape(url)
    except Exception:  # the restarted process may not listen yet
        return {}


def test_every_dashboard_panel_query_returns_data(stack):
    test_finsent_webhook_fires_for_the_burst_topic_only(stack)
    prom = stack["prom"]
    wait_for(lambda: query(prom, "finsent_topic_volume"), 30, "Prometheus to scrape the aggregator")
    wait_for(
        lambda: query(prom, "rate(finsent_records_consumed_total[5m]) > 0"), 30, "two scrapes of the scorer"
    )
    dashboard = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "finsent.json").read_text())
    empty = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$topic", "PFE")
            if not query(prom, expr):  # a parse error raises (HTTP 400)
                empty.append((panel["title"], expr))
    assert not empty, empty
