"""Measure a model on labelled data: a trained folder (PyTorch) or an exported version (ONNX)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from finsent.contracts.event_type import EVENT_TYPES
from finsent.contracts.news import DEFAULT_MAX_LENGTH
from finsent.inference.model_repo import MANIFEST
from finsent.training.data import load
from finsent.training.scoring_metrics import classification_report


class NoEventHead(ValueError):
    """The event head was asked of a model that has none."""


Heads = tuple[np.ndarray, np.ndarray | None]


def predictor(
    model_dir: Path, max_length: int = DEFAULT_MAX_LENGTH, precision: str = "fp32"
) -> tuple[Callable[[list[str]], Heads], list[str] | None]:
    """(texts -> (sentiment logits, event-type logits or None), event labels or None) for
    whichever kind of folder `model_dir` is, loaded once: an exported version runs as served
    (ONNX), a trained folder in PyTorch at `precision` ("auto": bf16 where the CPU has it)."""
    if (model_dir / MANIFEST).is_file():
        from finsent.inference.embedded import OnnxModel

        model = OnnxModel(model_dir, max_length=max_length)
        return (lambda texts: model.heads(texts, 64)), list(model.event_labels) or None
    if (model_dir / "config.json").is_file():
        from transformers import AutoTokenizer

        from finsent.training.classifier import event_labels_of, load_classifier
        from finsent.training.precision import resolve_precision
        from finsent.training.train import predict_heads as torch_heads

        torch_model = load_classifier(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        chosen = resolve_precision(precision, "cpu")
        return (
            lambda texts: torch_heads(torch_model, tokenizer, texts, max_length, 64, precision=chosen)
        ), event_labels_of(torch_model)
    raise FileNotFoundError(
        f"{model_dir}: neither an exported version ({MANIFEST}) nor a trained folder (config.json)"
    )


def predict_heads(
    model_dir: Path, texts: list[str], max_length: int = DEFAULT_MAX_LENGTH
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """(sentiment logits, event-type logits or None, event labels or None) for `texts`, from
    whichever kind of folder `model_dir` is."""
    predict, event_labels = predictor(model_dir, max_length)
    logits, events = predict(texts)
    return logits, events, event_labels


def predict(model_dir: Path, texts: list[str], max_length: int = DEFAULT_MAX_LENGTH) -> np.ndarray:
    """Sentiment logits for `texts`."""
    return predict_heads(model_dir, texts, max_length)[0]


def evaluate(
    model_dir: Path, data: list[Path], max_length: int = DEFAULT_MAX_LENGTH, head: str = "sentiment"
) -> dict[str, Any]:
    """One head's quality on labelled data (files labelled for that head): the same keys for both."""
    examples, report = load(data, head=head)
    logits, event_logits, event_labels = predict_heads(model_dir, [e.text for e in examples], max_length)
    if head == "event":
        if event_logits is None or event_labels is None:
            raise NoEventHead(
                f"{model_dir}: this model has no event-type head (trained without --event-data)"
            )
        if event_labels != list(EVENT_TYPES):
            raise NoEventHead(f"{model_dir}: its event head's classes are not FinSent's taxonomy")
        out = classification_report(
            np.array([e.event for e in examples]), event_logits.argmax(axis=1), event_labels
        )
    else:
        out = classification_report(np.array([e.label for e in examples]), logits.argmax(axis=1))
    out["head"] = head
    out["model"] = str(model_dir)
    out["data"] = report.as_dict()
    return out
