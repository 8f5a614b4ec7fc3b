"""The interface every scoring backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from finsent.contracts.news import ModelRef


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """Probabilities in `contracts.LABELS` order, one row per text, and the model that made them;
    for a model with an event-type head, its probabilities in `event_labels` order.

    One result always comes from one model version, even while a newer one is being swapped in."""

    probs: np.ndarray
    model: ModelRef
    event_probs: np.ndarray | None = None
    event_labels: tuple[str, ...] = ()


class BackendUnavailable(RuntimeError):
    """The backend cannot score now (server down, circuit open); the batch must be retried."""


class ScoringBackend(Protocol):
    def score(self, texts: Sequence[str]) -> ScoreResult: ...

    @property
    def model(self) -> ModelRef: ...

    def close(self) -> None: ...


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
