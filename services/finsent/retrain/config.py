"""What one retraining run is configured with (built from Settings by the app layer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from finsent.retrain.gate import GateConfig
from finsent.training.config import TrainConfig

PLANS = ("auto", "student", "teacher-student")


@dataclass
class RetrainConfig:
    state_dir: Path
    repo: Path
    model_name: str
    golden: list[Path]  # the fixed evaluation set: never trained on
    base_data: list[Path] = field(default_factory=list)  # labelled files trained on with the labels
    # The model the repository serves. On a CPU host: warm-started from the serving version.
    student: TrainConfig = field(default_factory=TrainConfig)
    # On a GPU host ("teacher-student"): first the teacher, then the student distilled from it.
    teacher: TrainConfig = field(default_factory=lambda: TrainConfig(base="mpnet", lr=3e-5, epochs=5))
    plan: str = "auto"  # auto: teacher-student where torch sees a GPU, else student
    warm_start: bool = True
    holdout_fraction: float = 0.2  # of the newest labels, held out to compare the two models on
    holdout_min: int = 30  # fewer than this: no held-out slice (too small to tell models apart)
    holdout_max: int = 2_000
    gate: GateConfig = field(default_factory=GateConfig)
    keep_versions: int = 5
    min_new_labels: int = 0  # the scheduler's "only when at least N new labels since the last run"
    export_format: str = "auto"
    distill_temperature: float = 2.0
    distill_alpha: float = 0.5
    progress: bool = False  # progress bars and epoch lines (a person at a terminal; not the scheduler)
