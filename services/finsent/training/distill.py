"""Knowledge distillation: a small, fast student (MiniLM) learns from a large teacher (the MPNet
model) — from the teacher's probabilities, softened by a temperature, on labelled text and on as much
unlabelled text as there is, mixed with the hard labels where there are any (Hinton et al., 2015).
A teacher with an event-type head passes it on: the student gets an event head and learns from
the teacher's event-type probabilities too.
The student is trained by the same loop as `finsent train` and written the same way (metadata,
metrics, evaluation split), with the teacher, temperature and mixing recorded in its metadata."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from finsent.inference.backend import softmax
from finsent.training.config import TrainConfig
from finsent.training.data import UNLABELLED, Example, LoadReport

log = logging.getLogger(__name__)


def teacher_probabilities(
    teacher: Path, texts: list[str], temperature: float, max_length: int, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray | None]:
    """The teacher's sentiment probabilities at `temperature`, one row per text, and its event-type
    probabilities (None for a sentiment-only teacher)."""
    from transformers import AutoTokenizer

    from finsent.training.classifier import load_classifier
    from finsent.training.train import predict_heads, resolve_device

    model = load_classifier(teacher).to(resolve_device(device))
    tokenizer = AutoTokenizer.from_pretrained(str(teacher))
    logits, event_logits = predict_heads(model, tokenizer, texts, max_length)
    events = softmax(event_logits / temperature) if event_logits is not None else None
    return softmax(logits / temperature), events


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
    probs, event_probs = teacher_probabilities(
        teacher, texts, cfg.distill_temperature, cfg.max_length, cfg.device
    )
    soft = [tuple(float(x) for x in row) for row in probs]
    soft_event: list[tuple[float, ...] | None] = [None] * len(texts)
    if event_probs is not None:
        soft_event = [tuple(float(x) for x in row) for row in event_probs]
    n = len(labelled)
    examples = [
        replace(e, soft=s, soft_event=se) for e, s, se in zip(labelled, soft[:n], soft_event[:n], strict=True)
    ]
    examples += [
        # With an event-type teacher, an unlabelled text teaches the student's event head too.
        Example(t, UNLABELLED, soft=s, soft_event=se, event=UNLABELLED)
        for t, s, se in zip(extra, soft[n:], soft_event[n:], strict=True)
    ]
    cfg = replace(cfg, extra={**cfg.extra, "teacher": str(teacher.resolve())})
    return train(examples, out, cfg, eval_set=eval_set, report=report, should_stop=should_stop)
