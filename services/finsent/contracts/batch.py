"""What a source hands the pipeline: raw records (one input message each, and where it came from) in
micro-batches, with the offsets to commit for them. Shared by every source (Kafka, the replay) and
the scoring pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


@dataclass
class Batch:
    records: list[RawRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the offset after the last record, i.e. what to commit."""
        out: dict[tuple[str, int], int] = {}
        for r in self.records:
            key = (r.topic, r.partition)
            out[key] = max(out.get(key, -1), r.offset + 1)
        return out
