"""`finsent labels import|stats|consume`: analysts' labels into the label store."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry

from finsent.app import configs
from finsent.app.wiring import kafka_connection
from finsent.retrain.ingest import LabelIngester, LabelMetrics
from finsent.retrain.label_input import read_label_file
from finsent.retrain.label_store import LabelStore, stats
from finsent.retrain.state import StatePaths
from finsent.settings import Settings

log = logging.getLogger(__name__)


def label_ingester(settings: Settings, registry: CollectorRegistry) -> LabelIngester:
    from finsent.kafka.client import ensure_topics

    conn = kafka_connection(settings)
    if settings.create_topics:
        ensure_topics(conn, [settings.labels_topic, settings.labels_dlq_topic], settings.partitions)
    return LabelIngester(
        conn,
        LabelStore(StatePaths(settings.retrain_dir).labels),
        LabelMetrics(registry),
        topic=settings.labels_topic,
        dlq_topic=settings.labels_dlq_topic,
        group_id=settings.labels_group_id,
        options=configs.group_options(settings),
    )


def consume(settings: Settings, stop: threading.Event) -> int:
    ingester = label_ingester(settings, CollectorRegistry())
    log.info("storing labels from %s in %s", settings.labels_topic, StatePaths(settings.retrain_dir).labels)
    try:
        ingester.run(stop)
    finally:
        ingester.close()
    return 0


def import_files(settings: Settings, files: list[Path], labeller: str | None) -> tuple[int, list[str]]:
    """Store the valid rows of `files`; returns (stored, errors). Nothing is stored from a file that
    cannot be read at all."""
    store = LabelStore(StatePaths(settings.retrain_dir).labels)
    stored, errors = 0, []
    for path in files:
        result = read_label_file(path, labeller=labeller)
        stored += store.append(result.events)
        errors += result.errors
    return stored, errors


def label_stats(settings: Settings) -> dict[str, object]:
    return stats(LabelStore(StatePaths(settings.retrain_dir).labels).read())
