"""A micro-batch: the records taken together from a source, and the offsets to commit for them."""

from __future__ import annotations

from dataclasses import dataclass, field

from finsent.pipeline.records import RawRecord


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
