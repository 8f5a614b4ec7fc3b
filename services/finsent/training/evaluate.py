"""Measure a model on labelled data: a trained folder (PyTorch) or an exported version (ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from finsent.contracts.news import DEFAULT_MAX_LENGTH
from finsent.inference.model_repo import MANIFEST
from finsent.training.data import load
from finsent.training.scoring_metrics import classification_report


def predict(model_dir: Path, texts: list[str], max_length: int = DEFAULT_MAX_LENGTH) -> np.ndarray:
    """Logits for `texts`, from whichever kind of folder `model_dir` is."""
    if (model_dir / MANIFEST).is_file():
        from finsent.inference.embedded import OnnxModel

        return OnnxModel(model_dir, max_length=max_length).logits(texts, 64)
    if (model_dir / "config.json").is_file():
        from transformers import AutoTokenizer

        from finsent.training.classifier import load_classifier
        from finsent.training.train import predict_torch

        model = load_classifier(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        return predict_torch(model, tokenizer, texts, max_length)
    raise FileNotFoundError(
        f"{model_dir}: neither an exported version ({MANIFEST}) nor a trained folder (config.json)"
    )


def evaluate(model_dir: Path, data: list[Path], max_length: int = DEFAULT_MAX_LENGTH) -> dict[str, Any]:
    examples, report = load(data)
    logits = predict(model_dir, [e.text for e in examples], max_length)
    out = classification_report(np.array([e.label for e in examples]), logits.argmax(axis=1))
    out["model"] = str(model_dir)
    out["data"] = report.as_dict()
    return out
