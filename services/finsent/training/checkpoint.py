"""Resumable training: the whole state of a fine-tune in one file, written every few minutes.

A checkpoint holds the model, the optimiser and the lr schedule, where the run is (epoch and batch
within it), the batch order's random state at the epoch's start (so the same batches are drawn
again and the done ones skipped), torch's, numpy's and Python's random states, and the best-epoch
bookkeeping. It is written beside the file and renamed over it, so a kill mid-write leaves the
previous checkpoint. A fingerprint of the configuration and the data refuses a resume that would
silently mix two different runs."""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RESUME_FILE", "ResumeMismatch", "RunPosition", "fingerprint", "load_state", "save_state"]

RESUME_FILE = "resume.pt"
# Settings that do not change what is computed: a run may be resumed with other values of these.
_NOT_FINGERPRINTED = frozenset({"resume", "progress", "threads", "checkpoint_every_s", "extra", "device"})


class ResumeMismatch(ValueError):
    """The checkpoint was written by a run with other settings or data."""


@dataclass
class RunPosition:
    """Where a fine-tune is, and what it has found so far."""

    epoch: int = 1  # the epoch under way (1-based)
    batch: int = 0  # batches of that epoch already trained
    epoch_rng: Any = None  # the batch-order Random's state at that epoch's start
    loss_sum: float = 0.0  # the epoch's running loss over those batches
    best: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    stale: int = 0


def fingerprint(config: dict[str, Any], texts: list[str], labels: list[Any]) -> str:
    """sha256 over what decides the computation: the settings and the training data."""
    h = hashlib.sha256()
    kept = {k: str(v) for k, v in sorted(config.items()) if k not in _NOT_FINGERPRINTED}
    h.update(json.dumps(kept, sort_keys=True).encode())
    for text, label in zip(texts, labels, strict=True):
        h.update(text.encode())
        h.update(b"\x00")
        h.update(repr(label).encode())
        h.update(b"\x01")
    return h.hexdigest()


def save_state(path: Path, fit: Any, position: RunPosition, print_: str) -> None:
    """Write the checkpoint atomically (fit: train._Fit)."""
    import torch

    state = {
        "fingerprint": print_,
        "model": fit.model.state_dict(),
        "optimizer": fit.optimizer.state_dict(),
        "scheduler": fit.scheduler.state_dict(),
        "step": fit.step,
        "position": position.__dict__,
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_state(path: Path, fit: Any, print_: str) -> RunPosition:
    """Restore `fit` (model, optimiser, schedule, step, random states) from `path`; returns where
    to go on from."""
    import torch

    state = torch.load(path, map_location=fit.device, weights_only=False)
    if state.get("fingerprint") != print_:
        raise ResumeMismatch(
            f"{path}: written by a run with other settings or data; remove it (or the .partial folder) "
            "to start again, or resume with the same flags and files"
        )
    fit.model.load_state_dict(state["model"])
    fit.optimizer.load_state_dict(state["optimizer"])
    fit.scheduler.load_state_dict(state["scheduler"])
    fit.step = int(state["step"])
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    return RunPosition(**state["position"])
