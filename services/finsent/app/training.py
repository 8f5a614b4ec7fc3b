"""The training commands' work: load labelled files for one or both heads, fine-tune (`train`),
distil a student from a teacher (`distill`), and cut a held-out split free of reposts (`split`).
`TrainConfig` is training/config.py's, named here for the command line (it imports no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finsent.training.config import TrainConfig
from finsent.training.data import DataError, Example, LoadReport

__all__ = [
    "DataError",
    "SplitResult",
    "TrainConfig",
    "TrainingData",
    "distill_model",
    "load_training_data",
    "split_data",
    "train_model",
]


@dataclass
class TrainingData:
    examples: list[Example]
    report: LoadReport
    eval_set: list[Example] | None


def load_training_data(
    data: list[Path], event_data: list[Path], eval_data: list[Path], event_eval: list[Path]
) -> TrainingData:
    """One example per text from sentiment (`data`) and event-type (`event_data`) files, heads
    merged; the eval files likewise (None when there are none). DataError when there is neither."""
    from finsent.training.data import load, merge_heads

    if not data and not event_data:
        raise DataError("give --data (sentiment) and/or --event-data (event type) files")
    report = LoadReport()
    examples: list[Example] = []
    if data:
        examples, report = load(data)
    if event_data:
        events, event_report = load(event_data, head="event")
        examples = merge_heads(examples, events)
        report.files.update(event_report.files)
        for key in ("rows", "duplicates_dropped", "conflicts_dropped", "conflicts_resolved"):
            setattr(report, key, getattr(report, key) + getattr(event_report, key))
    eval_set = None
    if eval_data or event_eval:
        sentiment_eval = load(eval_data)[0] if eval_data else []
        event_eval_set = load(event_eval, head="event")[0] if event_eval else []
        eval_set = merge_heads(sentiment_eval, event_eval_set)
    return TrainingData(examples, report, eval_set)


def train_model(data: TrainingData, out: Path, cfg: TrainConfig) -> dict[str, Any]:
    """Fine-tune on `data` into `out`; the training metadata (best epoch, metrics, duration)."""
    from finsent.training.train import train

    return train(data.examples, out, cfg, eval_set=data.eval_set, report=data.report)


def distill_model(
    teacher: Path, data: TrainingData, unlabelled_files: list[Path], out: Path, cfg: TrainConfig
) -> dict[str, Any]:
    """A student trained on `teacher`'s soft labels for the labelled and the unlabelled texts."""
    from finsent.training.data import load_texts
    from finsent.training.distill import distill

    unlabelled: list[str] = load_texts(unlabelled_files)[0] if unlabelled_files else []
    return distill(teacher, data.examples, unlabelled, out, cfg, eval_set=data.eval_set, report=data.report)


@dataclass(frozen=True)
class SplitResult:
    texts: int
    rows: int
    train: int
    test: int


def split_data(
    files: list[Path], head: str, test_fraction: float, seed: int, train_out: Path, test_out: Path
) -> SplitResult:
    """A held-out split free of reposts (texts equal without links, case and spacing stay on one
    side), written as two JSONL files."""
    from finsent.training.data import load, repost_free_split, write_jsonl

    examples, report = load(files, head=head)
    train_part, test_part = repost_free_split(examples, test_fraction, seed, head)
    write_jsonl(train_part, train_out, head=head)
    write_jsonl(test_part, test_out, head=head)
    return SplitResult(len(examples), report.rows, len(train_part), len(test_part))
