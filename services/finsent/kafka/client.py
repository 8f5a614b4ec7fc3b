"""Kafka clients as FinSent configures them: the protocol version, reconnect backoff, consumer-group
liveness, topic creation, and one produce-and-wait for everything that must be acknowledged before
an offset is committed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from finsent.kafka.security import Bootstrap, as_connection

log = logging.getLogger(__name__)

# Kafka 4 removed old protocol versions (KIP-896); auto-detection can pick one it rejects.
API_VERSION = (3, 9)

# kafka-python backs off reconnecting up to 30 s by default, so a client could sit idle for half a
# minute after the broker is back. 5 s caps that; during an outage the attempts' log lines are
# throttled (observability.log_throttle).
RECONNECT = {"reconnect_backoff_ms": 100, "reconnect_backoff_max_ms": 5_000}


def ensure_topics(bootstrap: Bootstrap, topics: Iterable[str], partitions: int) -> None:
    admin = KafkaAdminClient(
        client_id="finsent-admin", api_version=API_VERSION, **as_connection(bootstrap).client_kwargs()
    )
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics if t not in existing
        ]
        if new:
            try:
                admin.create_topics(new)
                log.info("created topics %s with %d partitions", [t.name for t in new], partitions)
            except TopicAlreadyExistsError:
                pass  # another process won the race
    finally:
        admin.close()


@dataclass(frozen=True)
class GroupOptions:
    """Consumer-group liveness. kafka-python's default session (45 s) means a process restarted
    after a crash waits that long for its dead predecessor to be evicted before it gets partitions;
    10 s with a 3 s heartbeat has a restarted scorer working again within about 15 s, and still
    tolerates a few missed heartbeats from a busy host. With a stable `instance_id` per replica
    (static membership, KIP-345; e.g. a StatefulSet's pod name) a restarted replica takes its
    predecessor's place at once, without a rebalance; a replica removed for good then holds its
    partitions until its session expires."""

    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    instance_id: str | None = None

    def consumer_kwargs(self) -> dict[str, object]:
        out: dict[str, object] = {
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": min(self.heartbeat_interval_ms, self.session_timeout_ms // 3),
        }
        if self.instance_id:
            out["group_instance_id"] = self.instance_id
        return out


class ProduceFailed(RuntimeError):
    pass


def new_producer(
    bootstrap: Bootstrap, client_id: str, *, timeout_s: float = 30.0, **extra: object
) -> KafkaProducer:
    """An idempotent producer that waits for all in-sync replicas. A send blocks at most `timeout_s`
    for metadata or buffer space during an outage; callers back off and retry with a new producer."""
    return KafkaProducer(
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        api_version=API_VERSION,
        max_block_ms=int(timeout_s * 1000),
        **RECONNECT,
        **as_connection(bootstrap).client_kwargs(),
        **extra,
    )


def produce_and_wait(
    producer: KafkaProducer,
    records: Sequence[tuple[str, bytes | None, bytes]],
    *,
    timeout_s: float,
    what: str = "records",
) -> None:
    """Send (topic, key, value) records and return only once the broker acknowledged every one;
    ProduceFailed otherwise (nothing is known to be written, so the caller re-reads its input)."""
    try:
        futures = [producer.send(topic, key=key, value=value) for topic, key, value in records]
        producer.flush(timeout=timeout_s)
        for f in futures:
            f.get(timeout=0)
    except Exception as exc:
        raise ProduceFailed(f"{what} not acknowledged within {timeout_s}s: {exc!r}") from exc


# FinSent's code names kafka-python's types through this module.
Partition: TypeAlias = TopicPartition
Producer: TypeAlias = KafkaProducer


class RebalanceCallbacks(ConsumerRebalanceListener):
    """The one rebalance listener of every FinSent consumer group. kafka-python may call it on its IO
    thread, where blocking consumer calls are not allowed: callbacks only record what changed."""

    def __init__(
        self,
        on_revoked: Callable[[set[Partition]], None] | None = None,
        on_assigned: Callable[[list[Partition]], None] | None = None,
    ) -> None:
        self._on_revoked, self._on_assigned = on_revoked, on_assigned

    def on_partitions_revoked(self, revoked: Iterable[Partition]) -> None:
        if self._on_revoked is not None:
            self._on_revoked(set(revoked))

    def on_partitions_assigned(self, assigned: Collection[Partition]) -> None:
        if self._on_assigned is not None:
            self._on_assigned(list(assigned))


def new_consumer(
    bootstrap: Bootstrap,
    client_id: str,
    *,
    group_id: str | None = None,
    options: GroupOptions | None = None,
    **extra: object,
) -> KafkaConsumer:
    """A consumer with manual commits (FinSent commits only what it has safely produced), the pinned
    protocol version and capped reconnect backoff; in a group, with FinSent's liveness settings."""
    group = (options or GroupOptions()).consumer_kwargs() if group_id is not None else {}
    return KafkaConsumer(
        client_id=client_id,
        group_id=group_id,
        enable_auto_commit=False,
        api_version=API_VERSION,
        **RECONNECT,
        **as_connection(bootstrap).client_kwargs(),
        **group,
        **extra,
    )


def commit(consumer: KafkaConsumer, offsets: Mapping[Partition, int]) -> None:
    """Commit the next offset to read, per partition (synchronously)."""
    if offsets:
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()})


def read_since(bootstrap: Bootstrap, topic: str, since_ms: int, *, timeout_s: float = 60.0) -> list[bytes]:
    """Every record value of `topic` (all partitions) written since `since_ms`, read up to the end the
    topic had when the call began. For small topics (the alerts): it holds them all in memory."""
    reader = new_consumer(bootstrap, "finsent-history")
    try:
        tps = [Partition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        reader.assign(tps)
        ends = reader.end_offsets(tps)
        starts = reader.offsets_for_times({tp: since_ms for tp in tps})
        for tp in tps:
            found = starts.get(tp)
            reader.seek(tp, found.offset if found is not None else ends[tp])
        values: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while any(reader.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} back took over {timeout_s:.0f}s")
            for records in reader.poll(timeout_ms=500).values():
                values += [r.value for r in records if r.offset < ends[Partition(r.topic, r.partition)]]
        return values
    finally:
        reader.close()
