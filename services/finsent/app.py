"""Wires the stages together for `finsent run`: on a real broker, or embedded on the sample feed."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from finsent.aggregate.aggregator import Aggregator
from finsent.aggregate.topic_metrics import TopicMetrics
from finsent.alerts.contracts import AlertEvent
from finsent.alerts.webhook import WebhookMetrics, WebhookSender
from finsent.contracts import DeadLetter, ScoredItem
from finsent.inference.backend import ScoringBackend
from finsent.inference.embedded import EmbeddedBackend
from finsent.observability.metrics import PipelineMetrics
from finsent.pipeline.dedup import RecentIds
from finsent.pipeline.scorer import BatchOutcome, PipelineOptions, ScoringPipeline
from finsent.settings import Settings
from finsent.topics.extract import TopicExtractor, load_entities

log = logging.getLogger(__name__)


def bundled_feed() -> Path:
    return Path(str(resources.files("finsent.demo") / "data" / "sample_feed.jsonl"))


def build_backend(settings: Settings) -> ScoringBackend:
    if settings.demo_model:
        from finsent.demo.model import ensure_demo_model

        ensure_demo_model(settings.model_repo, settings.model_name, max_length=settings.max_length)
    if settings.triton:
        from finsent.inference.triton_backend import TritonBackend

        return TritonBackend(
            settings.triton,
            settings.triton_model or settings.model_name,
            settings.model_repo,
            max_length=settings.max_length,
            timeout_s=settings.triton_timeout_s,
            retries=settings.triton_retries,
            concurrency=settings.triton_concurrency,
        )
    return EmbeddedBackend(
        settings.model_repo,
        settings.model_name,
        max_length=settings.max_length,
        infer_batch=settings.infer_batch,
        threads=settings.threads,
        poll_s=settings.model_poll_s,
    )


def build_extractor(settings: Settings) -> TopicExtractor:
    return TopicExtractor(load_entities(settings.entities))


def webhook_secret(settings: Settings) -> bytes | None:
    if settings.webhook_secret is None:
        log.warning("webhooks configured without FINSENT_WEBHOOK_SECRET: payloads will not be signed")
        return None
    return settings.webhook_secret.get_secret_value().encode()


def build_webhooks(settings: Settings, registry: CollectorRegistry) -> WebhookSender | None:
    """Embedded mode's webhooks: an in-memory queue (no alerts topic to deliver from)."""
    urls = settings.webhook_url_list()
    if not urls:
        return None
    return WebhookSender(
        urls,
        webhook_secret(settings),
        WebhookMetrics(registry),
        max_queue=settings.webhook_max_queue,
        max_attempts=settings.webhook_max_attempts,
    )


def topic_metrics(settings: Settings, registry: CollectorRegistry) -> TopicMetrics:
    return TopicMetrics(
        registry, settings.window_map(), settings.topic_allow_set(), settings.max_topic_labels
    )


def aggregator_factory(settings: Settings, metrics: TopicMetrics) -> Callable[[], Aggregator]:
    windows, detector = settings.window_map(), settings.detector_config()
    return lambda: Aggregator(windows, detector, metrics=metrics, max_topics=settings.max_topics)


def count_alert(metrics: TopicMetrics) -> Callable[[AlertEvent], None]:
    return lambda ev: metrics.alerts.labels(severity=ev.severity, status=ev.status).inc()


def pipeline_options(settings: Settings) -> PipelineOptions:
    return PipelineOptions(
        max_message_bytes=settings.max_message_bytes,
        dlq_payload_limit=settings.dlq_payload_limit,
        include_text=settings.scored_include_text,
        produce_retries=settings.produce_retries,
        progress_s=settings.progress_s,
        event_time=settings.event_time_policy(),
    )


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("%s: finishing the batch in flight, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_kafka(settings: Settings, stop: threading.Event | None = None) -> int:
    from finsent.pipeline.kafka_io import KafkaSink, KafkaSource, ensure_topics

    assert settings.kafka is not None
    stop = stop or threading.Event()
    metrics = PipelineMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_addr)
    backend = build_backend(settings)
    if settings.create_topics:
        ensure_topics(settings.kafka, all_topics(settings), settings.partitions)
    source = KafkaSource(
        settings.kafka,
        settings.news_topic,
        settings.group_id,
        max_batch=settings.max_batch,
        max_linger_ms=settings.max_linger_ms,
        timeouts=settings.group_options(),
    )
    sink = KafkaSink(
        settings.kafka,
        settings.scored_topic,
        settings.dlq_topic,
        topic_scores_topic=settings.topic_scores_topic,
    )
    pipeline = ScoringPipeline(
        source,
        backend,
        sink,
        recent=RecentIds(settings.dedup_size, settings.dedup_ttl_s),
        metrics=metrics,
        options=pipeline_options(settings),
        extractor=build_extractor(settings),
    )
    log.info(
        "scoring %s -> %s (group %s, model %s v%s)",
        settings.news_topic,
        settings.scored_topic,
        settings.group_id,
        backend.model.name,
        backend.model.version,
    )
    try:
        pipeline.run(stop)
    finally:
        source.close()
        sink.close()
        backend.close()
    log.info("stopped cleanly")
    return 0


def all_topics(settings: Settings) -> list[str]:
    return [
        settings.news_topic,
        settings.scored_topic,
        settings.dlq_topic,
        settings.topic_scores_topic,
        settings.alerts_topic,
        settings.webhook_dlq_topic,
    ]


def run_aggregate(settings: Settings, stop: threading.Event | None = None) -> int:
    from kafka import KafkaProducer

    from finsent.aggregate.runner import AggregateRunner, AlertPublisher
    from finsent.pipeline.kafka_io import API_VERSION, RECONNECT, ensure_topics

    assert settings.kafka is not None
    bootstrap = settings.kafka
    stop = stop or threading.Event()
    registry = CollectorRegistry()
    if settings.aggregate_metrics_port:
        start_http_server(settings.aggregate_metrics_port, addr=settings.metrics_addr, registry=registry)
    if settings.create_topics:
        ensure_topics(bootstrap, all_topics(settings), settings.partitions)
    metrics = topic_metrics(settings, registry)

    def producer() -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            api_version=API_VERSION,
            client_id="finsent-aggregator",
            max_block_ms=30_000,
            **RECONNECT,
        )

    publisher = AlertPublisher(producer, settings.alerts_topic, None, on_emitted=count_alert(metrics))
    runner = AggregateRunner(
        bootstrap,
        settings.topic_scores_topic,
        settings.aggregate_group_id,
        aggregator_factory(settings, metrics),
        publisher,
        alerts_topic=settings.alerts_topic,
        max_future_s=settings.event_time_max_future_s,
        timeouts=settings.group_options(),
    )
    dispatcher = build_dispatcher(settings, registry)
    dispatch_thread = None
    if dispatcher is not None:
        dispatch_thread = threading.Thread(
            target=dispatcher.run, args=(stop,), name="webhook-dispatcher", daemon=True
        )
        dispatch_thread.start()
    log.info(
        "aggregating %s (group %s), alerts to %s%s",
        settings.topic_scores_topic,
        settings.aggregate_group_id,
        settings.alerts_topic,
        f", webhooks from it (group {settings.webhook_group_id})" if dispatcher else "",
    )
    try:
        runner.run(stop)
    finally:
        stop.set()
        runner.close()
        publisher.close()
        if dispatch_thread is not None and dispatcher is not None:
            dispatch_thread.join(timeout=15)
            dispatcher.close()
    log.info("stopped cleanly")
    return 0


def build_dispatcher(settings: Settings, registry: CollectorRegistry):  # -> WebhookDispatcher | None
    from finsent.aggregate.aggregator import parse_window
    from finsent.alerts.dispatcher import WebhookDispatcher

    urls = settings.webhook_url_list()
    if not urls or settings.kafka is None:
        return None
    return WebhookDispatcher(
        settings.kafka,
        settings.alerts_topic,
        settings.webhook_group_id,
        urls,
        webhook_secret(settings),
        WebhookMetrics(registry),
        dlq_topic=settings.webhook_dlq_topic,
        max_age_s=parse_window(settings.webhook_max_age),
        backoff_max_s=parse_window(settings.webhook_backoff_max),
        timeouts=settings.group_options(),
    )


# --- embedded mode -------------------------------------------------------------------------------


@dataclass
class MemorySink:
    """Embedded mode's sink: keeps what a Kafka sink would have produced, bounded."""

    keep: int = 10_000
    scored: list[ScoredItem] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    def write(self, scored: list[ScoredItem], dead: list[DeadLetter]) -> None:
        self.scored.extend(scored)
        self.dead.extend(dead)
        del self.scored[: max(0, len(self.scored) - self.keep)]
        del self.dead[: max(0, len(self.dead) - self.keep)]

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Summary:
    consumed: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    seconds: float = 0.0
    model: str = ""
    alerts: list[AlertEvent] = field(default_factory=list)
    topics: list[dict[str, object]] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)

    def add(self, out: BatchOutcome) -> None:
        self.consumed += len(out.scored) + len(out.dead) + out.duplicates
        self.labels.update(s.label.value for s in out.scored)
        self.rejected.update(d.reason for d in out.dead)
        self.duplicates += out.duplicates

    def render(self) -> str:
        scored = sum(self.labels.values())
        rate = self.consumed / self.seconds if self.seconds else 0.0
        lines = [
            "",
            "FinSent run summary",
            f"  model            {self.model}",
            f"  records          {self.consumed} in {self.seconds:.1f}s ({rate:.0f}/s)",
            f"  scored           {scored}  "
            + "  ".join(f"{k} {self.labels[k]}" for k in ("negative", "neutral", "positive")),
            f"  dead-lettered    {sum(self.rejected.values())}  "
            + "  ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())),
            f"  duplicates       {self.duplicates}",
        ]
        if self.topics:
            w = self.windows
            lines += [
                "",
                "Per-topic sentiment at the end of the feed (event time)",
                f"  {'topic':<26}" + "".join(f"{'n/' + x:>9}{'neg%':>7}{'mean':>7}" for x in w) + "  alert",
            ]
            for row in self.topics[:20]:
                cells = "".join(f"{row[x][0]:>9}{row[x][1] * 100:>6.0f}%{row[x][2]:>7.2f}" for x in w)  # type: ignore[index]
                lines.append(f"  {row['topic']!s:<26}{cells}  {row['alert']}")
            if len(self.topics) > 20:
                lines.append(f"  ... and {len(self.topics) - 20} more topics")
        lines += ["", f"Alerts ({len(self.alerts)})"]
        for a in self.alerts:
            lines.append(
                f"  {a.event_time:%Y-%m-%d %H:%M} {a.status.upper():<8} {a.severity:<8} {a.topic:<22} "
                f"negative {a.negative_share:.0%} vs baseline {a.baseline:.0%} (z={a.zscore:.1f}, "
                f"n={a.volume})"
            )
            for e in a.evidence[:3] if a.status == "firing" else []:
                lines.append(f"      {e.score:+.2f}  {e.snippet}")
        return "\n".join(lines)


def run_embedded(settings: Settings, stop: threading.Event | None = None) -> Summary:
    from tqdm.auto import tqdm

    from finsent.aggregate.records import fan_out
    from finsent.aggregate.runner import AlertPublisher
    from finsent.pipeline.replay import ReplaySource

    stop = stop or threading.Event()
    metrics = PipelineMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_addr)
        print(f"Metrics: http://{settings.metrics_addr}:{settings.metrics_port}/metrics", flush=True)
    backend = build_backend(settings)
    feed = settings.sample_feed or bundled_feed()
    source = ReplaySource(feed, max_batch=settings.max_batch)
    alert_metrics = topic_metrics(settings, metrics.registry)
    aggregator = aggregator_factory(settings, alert_metrics)()
    webhooks = build_webhooks(settings, metrics.registry)
    publisher = AlertPublisher(None, settings.alerts_topic, webhooks, on_emitted=count_alert(alert_metrics))
    summary = Summary(
        model=f"{backend.model.name} v{backend.model.version}", windows=list(settings.window_map())
    )
    bar = tqdm(total=len(source), desc="scoring sample feed", unit="rec")

    def on_batch(out: BatchOutcome) -> None:
        summary.add(out)
        alerts = aggregator.apply(ts for s in out.scored for ts in fan_out(s))
        publisher.publish(alerts)
        summary.alerts.extend(alerts)
        bar.update(len(out.scored) + len(out.dead) + out.duplicates)

    pipeline = ScoringPipeline(
        source,
        backend,
        MemorySink(),
        recent=RecentIds(settings.dedup_size, settings.dedup_ttl_s),
        metrics=metrics,
        # The progress bar already says it; log lines would only break the bar.
        options=replace(pipeline_options(settings), progress_s=0.0),
        on_batch=on_batch,
        extractor=build_extractor(settings),
    )
    started = time.perf_counter()
    pipeline.run(stop, until=source.done)
    summary.seconds = time.perf_counter() - started
    summary.topics = aggregator.snapshot()
    bar.close()
    backend.close()
    if webhooks is not None:
        webhooks.drain(15)
        webhooks.close()
    return summary
