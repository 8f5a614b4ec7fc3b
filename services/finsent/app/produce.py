"""`finsent produce`: send a JSONL file to the news topic, one record per line, as it is (the
scorer validates; a bad line becomes a dead letter there, not here)."""

from __future__ import annotations

from pathlib import Path

from finsent.app.wiring import kafka_connection
from finsent.kafka.client import ensure_topics, new_producer
from finsent.settings import Settings

__all__ = ["produce_file"]


def produce_file(settings: Settings, path: Path) -> int:
    """Send every non-blank line of `path` to `settings.news_topic`; how many were sent (all of
    them flushed to the broker before this returns)."""
    kafka = kafka_connection(settings)
    if settings.create_topics:
        ensure_topics(kafka, [settings.news_topic], settings.partitions)
    producer = new_producer(kafka, "finsent-produce")
    n = 0
    try:
        for line in path.read_bytes().splitlines():
            if line.strip():
                producer.send(settings.news_topic, value=line)
                n += 1
        producer.flush()
    finally:
        producer.close()
    return n
