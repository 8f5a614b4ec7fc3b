"""Knowledge distillation: a small, fast student (MiniLM) learns from a large teacher (the MPNet
model) — from the teacher's probabilities, softened by a temperature, on labelled text and on as much
unlabelled text as there is, mixed with the hard labels where there are any (Hinton et al., 2015).
A teacher with an event-type head passes it on: the student gets an event head and learns from
the teacher's event-type probabilities too.
The student is trained by the same loop as `finsent train` and written the same way (metadata,
metrics, evaluation split), with the teacher, temperature and mixing recorded in its metadata."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from finsent.inference.backend import softmax
from finsent.inference.model_repo import sha256
from finsent.training.config import TrainConfig
from finsent.training.data import UNLABELLED, Example, LoadReport

log = logging.getLogger(__name__)


def teacher_cache_dir() -> Path:
    """Where teacher logits are cached: per user, like the bases and the demo model."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "finsent"
    return cache / "teacher-logits"


def _cache_key(teacher: Path, texts: list[str], max_length: int, precision: str) -> str:
    """The teacher's weights, the texts and how they were read: the logits are the same exactly
    when these are."""
    h = hashlib.sha256()
    for weights in sorted(teacher.glob("*.safetensors")) + sorted(teacher.glob("*.bin")):
        h.update(sha256(weights).encode())
    h.update(f"{max_length}:{precision}:{len(texts)}".encode())
    for text in texts:
        h.update(text.encode())
        h.update(b"\x00")
    return h.hexdigest()[:24]


def teacher_logits(
    teacher: Path,
    texts: list[str],
    max_length: int,
    device: str = "auto",
    precision: str = "auto",
    cache: Path | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The teacher's sentiment logits, one row per text, and its event-type logits (None for a
    sentiment-only teacher): one inference pass (bf16 where the CPU has it), computed once and
    kept in `cache` (default teacher_cache_dir()), so each student run, or a resumed one, reuses
    them."""
    from transformers import AutoTokenizer

    from finsent.training.classifier import load_classifier
    from finsent.training.precision import resolve_precision
    from finsent.training.train import predict_heads, resolve_device

    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    folder = cache if cache is not None else teacher_cache_dir()
    path = folder / f"{_cache_key(teacher, texts, max_length, precision)}.npz"
    if path.is_file():
        with np.load(path) as stored:
            log.info("teacher logits for %d texts from %s", len(texts), path)
            events = stored.get("event_logits")
            return stored["logits"], events
    model = load_classifier(teacher).to(device)
    tokenizer = AutoTokenizer.from_pretrained(str(teacher))
    logits, event_logits = predict_heads(
        model, tokenizer, texts, max_length, batch_size=64, precision=precision, progress=progress
    )
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"logits": logits} | ({"event_logits": event_logits} if event_logits is not None else {})
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return logits, event_logits


def teacher_probabilities(
    teacher: Path,
    texts: list[str],
    temperature: float,
    max_length: int,
    device: str = "auto",
    precision: str = "auto",
    cache: Path | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The teacher's sentiment probabilities at `temperature`, one row per text, and its event-type
    probabilities (None for a sentiment-only teacher)."""
    logits, event_logits = teacher_logits(teacher, texts, max_length, device, precision, cache, progress)
    events = softmax(event_logits / temperature) if event_logits is not None else None
    return softmax(logits / temperature), events


def teacher_max_length(teacher: Path, default: int) -> int:
    """The max length the teacher was trained with (its metadata), else `default`."""
    import json

    meta = teacher / "finsent_training.json"
    if meta.is_file():
        value = json.loads(meta.read_text()).get("config", {}).get("max_length")
        if isinstance(value, int) and value > 0:
            return value
    return default if default > 0 else 128


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
    # Soft labels of the teacher as it reads text: at the teacher's own max length.
    probs, event_probs = teacher_probabilities(
        teacher,
        texts,
        cfg.distill_temperature,
        teacher_max_length(teacher, cfg.max_length),
        cfg.device,
        cfg.precision,
        cache=Path(cfg.extra["teacher_cache"]) if cfg.extra.get("teacher_cache") else None,
        progress=cfg.progress,
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
