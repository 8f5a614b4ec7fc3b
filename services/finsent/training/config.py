"""Training settings: the one place for their defaults (`finsent train` takes its flags' defaults
from here). Light on purpose: the command line imports it without torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finsent.contracts.news import DEFAULT_MAX_LENGTH


@dataclass
class TrainConfig:
    base: str | Path | None = (
        None  # "minilm" (also None), "mpnet" or a Hugging Face folder (training/bases.py)
    )
    epochs: int = 8
    batch_size: int = 32
    lr: float = 8e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_length: int = DEFAULT_MAX_LENGTH
    seed: int = 42
    patience: int = 2
    eval_fraction: float = 0.2
    class_weights: bool = True
    pooling: str = "mean"  # "mean" (sentence-transformers style) or "cls" (Hugging Face's pooler head)
    label_smoothing: float = 0.0
    # Layer-wise lr decay: layer k of L trains at lr * layer_decay ** (L - k), the embeddings at
    # lr * layer_decay ** (L + 1), the head at lr. 1.0 turns it off.
    layer_decay: float = 1.0
    # Continue training a folder written by `finsent train` (its encoder and head) instead of a new
    # head on `base`: retraining warm-starts from the production version this way.
    init_from: str | None = None
    device: str = "auto"  # "auto": CUDA when torch sees a GPU, else CPU
    max_steps: int | None = None  # stop after this many optimiser steps (smoke tests)
    # Distillation (finsent distill): examples carry a teacher's probabilities at this temperature;
    # the loss is alpha * hard-label cross-entropy + (1 - alpha) * T² * KL(teacher || student).
    distill_temperature: float | None = None
    distill_alpha: float = 0.5
    # The event-type head's loss is added to the sentiment head's at this weight: a shared encoder
    # must not trade sentiment quality for event types.
    event_loss_weight: float = 1.0
    # "event": train only the event-type head, on the encoder (and sentiment head) of `init_from`,
    # frozen: adds event types to a trained sentiment model without changing one of its scores.
    train_only: str | None = None
    # "auto": bf16 autocast where the CPU (AVX-512 BF16 / AMX) or GPU has it, else fp32 (precision.py).
    precision: str = "auto"
    # 0: every core this process may run on (os.sched_getaffinity); more threads than cores is slower.
    threads: int = 0
    # Resumable runs: the whole training state is written to OUT.partial/resume.pt this often, and
    # `resume` goes on from it (a run killed at 90% loses minutes, not hours).
    checkpoint_every_s: float = 300.0
    resume: bool = False
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
