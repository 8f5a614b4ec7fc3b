"""Fakes for unit tests of one stage: a backend that scores everything neutral (and can be told to
be unavailable), sinks that record what was delivered (and can be told to fail). Never the proof
that a feature works: the integration tests run the real broker, Triton and Prometheus."""

from __future__ import annotations

import numpy as np

from finsent.contracts.news import DeadLetter, ModelRef, ScoredItem
from finsent.contracts.topic_score import TopicScore
from finsent.inference.backend import BackendUnavailable, ScoreResult


class FixedBackend:
    """Scores every text neutral; can be told to be unavailable for its n-th call."""

    model = ModelRef(name="fixed", version="1")

    def __init__(self, fail_calls: tuple[int, ...] = ()) -> None:
        self.calls = 0
        self.fail_calls = fail_calls
        self.scored_texts = 0

    def score(self, texts):
        self.calls += 1
        if self.calls in self.fail_calls:
            raise BackendUnavailable("injected outage")
        self.scored_texts += len(texts)
        return ScoreResult(
            np.tile(np.array([[0.1, 0.8, 0.1]], dtype=np.float32), (len(texts), 1)), self.model
        )

    def close(self) -> None:
        pass


class RecordingSink:
    """Keeps every delivered item; fails the writes whose number is in `fail_writes`."""

    def __init__(self, fail_writes: tuple[int, ...] = ()) -> None:
        self.writes = 0
        self.fail_writes = fail_writes
        self.scored: list[ScoredItem] = []

    def write(self, scored: list[ScoredItem], topic_scores: list[TopicScore], dead: list[DeadLetter]) -> None:
        self.writes += 1
        if self.writes in self.fail_writes:
            raise RuntimeError("injected produce failure")
        self.scored.extend(scored)

    def close(self) -> None:
        pass


class ResettableSink(RecordingSink):
    def __init__(self, fail_writes):
        super().__init__(fail_writes)
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1
