"""`finsent aggregate --kafka`: per-topic windows and alerts, and the webhook dispatcher."""

from __future__ import annotations

import logging
import threading

from prometheus_client import CollectorRegistry, start_http_server

from finsent.app import configs
from finsent.app.wiring import (
    aggregator_factory,
    all_topics,
    build_dispatcher,
    count_alert,
    kafka_connection,
    topic_metrics,
)
from finsent.settings import Settings

log = logging.getLogger(__name__)


def run_aggregate(settings: Settings, stop: threading.Event | None = None) -> int:
    from finsent.aggregate.runner import AggregateRunner
    from finsent.alerts.publisher import AlertPublisher
    from finsent.kafka.client import ensure_topics, new_producer

    assert settings.kafka is not None
    bootstrap = kafka_connection(settings)
    stop = stop or threading.Event()
    registry = CollectorRegistry()
    if settings.aggregate_metrics_port:
        start_http_server(settings.aggregate_metrics_port, addr=settings.metrics_addr, registry=registry)
    if settings.create_topics:
        ensure_topics(bootstrap, all_topics(settings), settings.partitions)
    metrics = topic_metrics(settings, registry)

    publisher = AlertPublisher(
        lambda: new_producer(bootstrap, "finsent-aggregator"),
        settings.alerts_topic,
        None,
        on_emitted=count_alert(metrics),
    )
    runner = AggregateRunner(
        bootstrap,
        settings.topic_scores_topic,
        settings.aggregate_group_id,
        aggregator_factory(settings, metrics),
        publisher,
        alerts_topic=settings.alerts_topic,
        lateness_s=configs.allowed_lateness_s(settings),
        max_future_s=settings.event_time_max_future_s,
        timeouts=configs.group_options(settings),
    )
    dispatcher = build_dispatcher(settings, registry, bootstrap)
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
