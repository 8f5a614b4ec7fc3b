"""`finsent run --kafka`: the scoring pipeline on a real broker."""

from __future__ import annotations

import logging
import threading

from finsent.app import configs
from finsent.app.wiring import all_topics, build_backend, build_extractor, kafka_connection, pipeline_options
from finsent.scoring.dedup import RecentIds
from finsent.scoring.metrics import PipelineMetrics
from finsent.scoring.scorer import ScoringPipeline
from finsent.settings import Settings

log = logging.getLogger(__name__)


def run_kafka(settings: Settings, stop: threading.Event | None = None) -> int:
    from finsent.kafka.client import ensure_topics
    from finsent.kafka.sink import KafkaSink
    from finsent.kafka.source import KafkaSource

    assert settings.kafka is not None
    stop = stop or threading.Event()
    kafka = kafka_connection(settings)
    metrics = PipelineMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_addr)
    backend = build_backend(settings)
    if settings.create_topics:
        ensure_topics(kafka, all_topics(settings), settings.partitions)
    source = KafkaSource(
        kafka,
        settings.news_topic,
        settings.group_id,
        max_batch=settings.max_batch,
        max_linger_ms=settings.max_linger_ms,
        timeouts=configs.group_options(settings),
    )
    sink = KafkaSink(
        kafka,
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
