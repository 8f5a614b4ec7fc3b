"""Builds the parts every mode shares from the settings: backend, topic extractor, metrics,
aggregator, webhook senders, pipeline options, signal handling."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from finsent.aggregate.aggregator import Aggregator
from finsent.aggregate.detector import DetectorConfig
from finsent.aggregate.topic_metrics import TopicMetrics
from finsent.alerts.webhook import WebhookMetrics, WebhookSender
from finsent.app import configs
from finsent.contracts.alert import AlertEvent
from finsent.inference.backend import ScoringBackend
from finsent.inference.embedded import EmbeddedBackend
from finsent.scoring.scorer import PipelineOptions
from finsent.settings import Settings
from finsent.topics.extract import TopicExtractor, load_entities

if TYPE_CHECKING:
    from finsent.alerts.dispatcher import WebhookDispatcher
    from finsent.kafka.security import KafkaConnection

log = logging.getLogger(__name__)


def bundled_feed() -> Path:
    return Path(str(resources.files("finsent.demo") / "data" / "sample_feed.jsonl"))


def build_backend(settings: Settings) -> ScoringBackend:
    if settings.install_model:
        from finsent.shipped import ensure_model

        ensure_model(settings.model_repo, settings.model_name)
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
            tls=triton_tls(settings),
        )
    return EmbeddedBackend(
        settings.model_repo,
        settings.model_name,
        max_length=settings.max_length,
        infer_batch=settings.infer_batch,
        threads=settings.threads,
        poll_s=settings.model_poll_s,
    )


def kafka_connection(settings: Settings):  # -> KafkaConnection
    """The connection every Kafka client of this process uses, checked once at start: a security
    problem (credentials, certificates, protocol) stops the command with KafkaSecurityError naming
    the setting to fix; an unreachable broker does not (the clients retry until it is back)."""
    from finsent.kafka.preflight import check_connection

    conn = configs.kafka_connection(settings)
    if not check_connection(conn):
        log.warning("Kafka at %s is not reachable yet; the clients keep trying", conn.bootstrap)
    return conn


def triton_tls(settings: Settings):  # -> TritonTLS | None
    from finsent.inference.triton_backend import TritonTLS

    files = (settings.triton_ssl_cafile, settings.triton_ssl_certfile, settings.triton_ssl_keyfile)
    if not settings.triton_ssl:
        if any(files):
            raise ValueError("Triton TLS files are set but FINSENT_TRITON_SSL is off")
        return None
    return TritonTLS(*files)


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


def aggregator_factory(
    settings: Settings, metrics: TopicMetrics, detector: DetectorConfig | None = None
) -> Callable[[], Aggregator]:
    """Aggregators as the settings describe them; `detector` replaces the settings' detector (the
    alert-quality benchmark compares detectors on one feed)."""
    windows, detector = settings.window_map(), detector or configs.detector_config(settings)
    by_event = configs.event_detector_config(settings)
    novelty = configs.novelty_config(settings)
    return lambda: Aggregator(
        windows,
        detector,
        metrics=metrics,
        max_topics=settings.max_topics,
        event_detector=by_event,
        novelty=novelty,
    )


def count_alert(metrics: TopicMetrics) -> Callable[[AlertEvent], None]:
    return lambda ev: metrics.alerts.labels(severity=ev.severity, status=ev.status).inc()


def pipeline_options(settings: Settings) -> PipelineOptions:
    return PipelineOptions(
        max_message_bytes=settings.max_message_bytes,
        dlq_payload_limit=settings.dlq_payload_limit,
        include_text=settings.scored_include_text,
        produce_retries=settings.produce_retries,
        progress_s=settings.progress_s,
        event_time=configs.event_time_policy(settings),
    )


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("%s: finishing the batch in flight, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def all_topics(settings: Settings) -> list[str]:
    return [
        settings.news_topic,
        settings.scored_topic,
        settings.dlq_topic,
        settings.topic_scores_topic,
        settings.alerts_topic,
        settings.webhook_dlq_topic,
    ]


def build_dispatcher(
    settings: Settings, registry: CollectorRegistry, kafka: KafkaConnection
) -> WebhookDispatcher | None:
    """Webhook delivery from the alerts topic, on the aggregator's (already checked) connection."""
    from finsent.aggregate.windows import parse_window
    from finsent.alerts.dispatcher import WebhookDispatcher

    urls = settings.webhook_url_list()
    if not urls:
        return None
    return WebhookDispatcher(
        kafka,
        settings.alerts_topic,
        settings.webhook_group_id,
        urls,
        webhook_secret(settings),
        WebhookMetrics(registry),
        dlq_topic=settings.webhook_dlq_topic,
        max_age_s=parse_window(settings.webhook_max_age),
        backoff_max_s=parse_window(settings.webhook_backoff_max),
        timeouts=configs.group_options(settings),
    )
