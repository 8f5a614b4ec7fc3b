"""Embedded mode's sink: keeps what a Kafka sink would have produced, bounded."""

from __future__ import annotations

from dataclasses import dataclass, field

from finsent.contracts.news import DeadLetter, ScoredItem
from finsent.contracts.topic_score import TopicScore


@dataclass
class MemorySink:
    """Embedded mode's sink: keeps what a Kafka sink would have produced, bounded."""

    keep: int = 10_000
    scored: list[ScoredItem] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    def write(self, scored: list[ScoredItem], topic_scores: list[TopicScore], dead: list[DeadLetter]) -> None:
        self.scored.extend(scored)
        self.dead.extend(dead)
        del self.scored[: max(0, len(self.scored) - self.keep)]
        del self.dead[: max(0, len(self.dead) - self.keep)]

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass
