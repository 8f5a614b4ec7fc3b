"""Helpers for tests against the real broker."""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from finsent.kafka.client import API_VERSION, ensure_topics
from support.process import Process

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Topics:
    news: str
    scored: str
    dlq: str
    group: str


def fresh_topics(bootstrap: str, partitions: int = 6) -> Topics:
    tag = uuid.uuid4().hex[:8]
    t = Topics(f"t{tag}.news", f"t{tag}.scored", f"t{tag}.dlq", f"g{tag}")
    ensure_topics(bootstrap, [t.news, t.scored, t.dlq], partitions)
    return t


def produce(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None] | None = None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", api_version=API_VERSION)
    for i, value in enumerate(values):
        producer.send(topic, value=value, key=keys[i] if keys else None)
    producer.flush()
    producer.close()


def consume(
    bootstrap: str, topic: str, *, expect: int, timeout_s: float = 60.0, settle_s: float = 2.0
) -> list:
    """Read `topic` from the beginning until `expect` records have arrived (then `settle_s` more, so
    that extra records would be seen) or `timeout_s` passes."""
    # Explicit assignment, not subscribe(): a group-less subscription in kafka-python assigns
    # partitions from a metadata-update callback, and about once in 50 runs here it assigned none
    # and read nothing for the whole timeout (seen in CI as "0 of 900 scored").
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, api_version=API_VERSION
    )
    deadline = time.monotonic() + timeout_s
    partitions = consumer.partitions_for_topic(topic)
    while not partitions and time.monotonic() < deadline:
        time.sleep(0.2)
        partitions = consumer.partitions_for_topic(topic)
    assignment = [TopicPartition(topic, p) for p in sorted(partitions or ())]
    consumer.assign(assignment)
    consumer.seek_to_beginning(*assignment)
    out: list = []
    reached_at: float | None = None
    while assignment and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=300).values():
            out.extend(batch)
        if len(out) >= expect:
            reached_at = reached_at or time.monotonic()
            if time.monotonic() - reached_at >= settle_s:
                break
    consumer.close()
    return out


def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on `topic` (reads them without joining the group)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, api_version=API_VERSION
    )
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in parts)
    finally:
        consumer.close(autocommit=False)


def wait_committed(bootstrap: str, group: str, topic: str, at_least: int, timeout_s: float) -> int:
    """Polls the group's committed total until it reaches `at_least` or time runs out; returns it."""
    deadline = time.monotonic() + timeout_s
    while True:
        total = committed_total(bootstrap, group, topic)
        if total >= at_least or time.monotonic() >= deadline:
            return total
        time.sleep(0.1)


def news(item_id: str, text: str | None = None, **extra: object) -> bytes:
    return json.dumps(
        {
            "id": item_id,
            "text": text or f"Acme shares rise after results ({item_id})",
            "source": "test",
            **extra,
        }
    ).encode()


def flags(command: str, **values: object) -> list[str]:
    """Command-line flags for the settings `finsent <command>` takes (it rejects the others)."""
    from finsent.settings import command_fields

    takes = {n for names in command_fields(command).values() for n in names}
    out: list[str] = []
    for name, value in values.items():
        if name not in takes:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is False:
            out.append("--no-" + flag[2:])
        else:
            out += [flag, str(value)]
    return out


def finsent_args(command: str, bootstrap: str, topics: Topics, model_repo: Path) -> list[str]:
    """`finsent <command>` on the test's own topics and model, as a separate OS process runs it."""
    return [
        sys.executable,
        "-m",
        "finsent.cli",
        command,
        *flags(
            command,
            kafka=bootstrap,
            news_topic=topics.news,
            scored_topic=topics.scored,
            dlq_topic=topics.dlq,
            group_id=topics.group,
            model_repo=model_repo,
            model_poll_s=0,
            install_model=False,
        ),
    ]


class Scorer(Process):
    """`finsent run --kafka` as a separate OS process, as it runs in production."""

    def __init__(self, bootstrap: str, topics: Topics, model_repo: Path, *extra: str, log: Path) -> None:
        args = [
            *finsent_args("run", bootstrap, topics, model_repo),
            "--metrics-port",
            "0",
            "--threads",
            "1",
            *extra,
        ]
        super().__init__(args, log, env={"FINSENT_PROGRESS_S": "1"})
