"""Where retraining keeps its state (one folder, FINSENT_RETRAIN_DIR); the locks are taken with
finsent.locks.try_exclusive.

<state>/labels/          the label store (label_store.py)
<state>/runs.db          the run ledger (ledger.py)
<state>/reports/         run-<id>.json and run-<id>.md, one pair per run
<state>/checkpoints/     the PyTorch folders behind promoted versions (warm starts, distillation)
<state>/work/            a run's scratch space, removed when it ends
<state>/retrain.lock     held by the run in progress
<state>/scheduler.lock   held by the active scheduler
<state>/scheduler.db     APScheduler's job store"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["StatePaths"]


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
