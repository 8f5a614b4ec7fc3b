"""Where retraining keeps its state (one folder, FINSENT_RETRAIN_DIR), and the run lock.

<state>/labels/          the label store (label_store.py)
<state>/runs.db          the run ledger (ledger.py)
<state>/reports/         run-<id>.json and run-<id>.md, one pair per run
<state>/checkpoints/     the PyTorch folders behind promoted versions (warm starts, distillation)
<state>/work/            a run's scratch space, removed when it ends
<state>/retrain.lock     held by the run in progress
<state>/scheduler.lock   held by the active scheduler
<state>/scheduler.db     APScheduler's job store"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class LockBusy(RuntimeError):
    """Another process holds the lock."""


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def labels(self) -> Path:
        return self.root / "labels"

    @property
    def ledger(self) -> Path:
        return self.root / "runs.db"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def run_lock(self) -> Path:
        return self.root / "retrain.lock"

    @property
    def scheduler_lock(self) -> Path:
        return self.root / "scheduler.lock"

    @property
    def jobstore(self) -> Path:
        return self.root / "scheduler.db"


@contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """An exclusive lock on `path` (flock), held until the block ends; LockBusy at once if another
    process holds it. The kernel releases it when the holder dies, so a crash never leaves it stuck.
    The holder's pid is written into the file for the error message."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LockBusy(f"{what} is held by another process (pid {holder}; lock {path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
