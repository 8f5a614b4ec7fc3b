"""Knowledge distillation: a small, fast student (MiniLM) learns from a large teacher (the MPNet
model) — from the teacher's probabilities, softened by a temperature, on labelled text and on as much
unlabelled text as there is, mixed with the hard labels where there are any (Hinton et al., 2015).
The student is trained by the same loop as `finsent train` and written the same way (metadata,
metrics, evaluation split), with the teacher, temperature and mixing recorded in its metadata."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from finsent.training.config import TrainConfig
from finsent.training.data import UNLABELLED, Example, LoadReport

log = logging.getLogger(__name__)


def teacher_probabilities(
    teacher: Path, texts: list[str], temperature: float, max_length: int, device: str = "auto"
) -> np.ndarray:
    """The teacher's class probabilities at `temperature`, one row per text."""
    from transformers import AutoTokenizer

    from finsent.training.classifier import load_classifier
    from finsent.training.train import predict_torch, resolve_device

    model = load_classifier(teacher).to(resolve_device(device))
    logits = predict_torch(model, AutoTokenizer.from_pretrained(str(teacher)), texts, max_length)
    z = logits / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def distill(
    teacher: Path,
    labelled: list[Example],
    unlabelled: list[str],
    out: Path,
    cfg: TrainConfig,
    *,
    eval_set: list[Example] | None = None,
    report: LoadReport | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Train the student (cfg.base) on the teacher's soft targets; returns train()'s metadata."""
    from finsent.training.train import train

    if not (teacher / "config.json").is_file():
        raise ValueError(f"--teacher {teacher}: not a folder written by `finsent train` (no config.json)")
    if cfg.distill_temperature is None or cfg.distill_temperature <= 0:
        raise ValueError("distillation needs a temperature > 0")
    if not 0.0 <= cfg.distill_alpha <= 1.0:
        raise ValueError("alpha must be between 0 and 1")
    # Unlabelled text that is also labelled (or held out for evaluation) would leak or count twice.
    known = {e.text for e in labelled} | {e.text for e in eval_set or ()}
    extra = [t for t in dict.fromkeys(unlabelled) if t not in known]
    texts = [e.text for e in labelled] + extra
    log.info("teacher %s: soft labels for %d texts (%d unlabelled)", teacher, len(texts), len(extra))
    if cfg.progress:
        print(
            f"Teacher {teacher}: soft labels for {len(texts)} texts ({len(extra)} unlabelled)...", flush=True
        )
    probs = teacher_probabilities(teacher, texts, cfg.distill_temperature, cfg.max_length, cfg.device)
    soft = [tuple(float(x) for x in row) for row in probs]
    n = len(labelled)
    examples = [replace(e, soft=s) for e, s in zip(labelled, soft[:n], strict=True)]
    examples += [Example(t, UNLABELLED, soft=s) for t, s in zip(extra, soft[n:], strict=True)]
    cfg = replace(cfg, extra={**cfg.extra, "teacher": str(teacher.resolve())})
    return train(examples, out, cfg, eval_set=eval_set, report=report, should_stop=should_stop)
