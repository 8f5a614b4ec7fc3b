"""A retraining workspace for tests: a tiny base, a golden set and a labelled pool carved from the
demo data, the environment that points `finsent retrain|scheduler|labels|rollback` at them, and
label files (right, or deliberately wrong)."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from finsent.contracts.news import LABELS
from finsent.demo.model import DEMO_TRAIN
from finsent.training.data import load, stratified_split, write_jsonl
from support.tiny_models import tiny_bert_base


@dataclass
class Workspace:
    root: Path
    base: Path
    golden: Path
    pool: list[tuple[str, str]]  # (text, right label): what analysts label
    env: dict[str, str]

    @property
    def state(self) -> Path:
        return Path(self.env["FINSENT_RETRAIN_DIR"])

    @property
    def repo(self) -> Path:
        return Path(self.env["FINSENT_MODEL_REPO"])

    def finsent(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "finsent.cli", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env, **(env or {})},
        )

    def finsent_argv(self, *args: str) -> list[str]:
        return self.argv(*args)

    @staticmethod
    def argv(*args: str) -> list[str]:
        return [sys.executable, "-m", "finsent.cli", *args]

    @staticmethod
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(Workspace.argv(*args), capture_output=True, text=True)

    def label_file(self, name: str, labeller: str, *, shuffled: bool = False) -> Path:
        """The pool labelled by `labeller`: rightly, or with the labels permuted (a bad labeller)."""
        labels = [label for _, label in self.pool]
        if shuffled:
            # Shift every label to the next class: each one wrong, the same way for every bad labeller.
            labels = [str(LABELS[(LABELS.index(label) + 1) % len(LABELS)]) for label in labels]  # type: ignore[arg-type]
        path = self.root / name
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label", "labeller"])
            for (text, _), label in zip(self.pool, labels, strict=True):
                w.writerow([text, label, labeller])
        return path


def make_workspace(root: Path, tiny_base_dir: Path) -> Workspace:
    root.mkdir(parents=True, exist_ok=True)
    examples, _ = load([DEMO_TRAIN])
    pool, golden = stratified_split(examples, 0.3, seed=11)
    write_jsonl(golden, root / "golden.jsonl")
    base = tiny_bert_base(tiny_base_dir)
    env = {
        "FINSENT_RETRAIN_DIR": str(root / "state"),
        "FINSENT_MODEL_REPO": str(root / "repo"),
        "FINSENT_MODEL_NAME": "finsent_sentiment",
        "FINSENT_RETRAIN_GOLDEN": str(root / "golden.jsonl"),
        "FINSENT_RETRAIN_PLAN": "student",
        "FINSENT_RETRAIN_BASE": str(base),
        "FINSENT_RETRAIN_WARM_START": "false",
        "FINSENT_RETRAIN_EPOCHS": "6",
        "FINSENT_RETRAIN_LR": "0.001",
        "FINSENT_RETRAIN_BATCH_SIZE": "16",
        "FINSENT_RETRAIN_DEVICE": "cpu",
        "FINSENT_RETRAIN_METRICS_PORT": "0",
        "TRANSFORMERS_VERBOSITY": "error",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    rows = [(e.text, str(LABELS[e.label])) for e in pool]
    random.Random(3).shuffle(rows)
    return Workspace(root, base, root / "golden.jsonl", rows, env)


def report(ws: Workspace, run_id: int) -> dict:
    return json.loads((ws.state / "reports" / f"run-{run_id}.json").read_text())
