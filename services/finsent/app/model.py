"""The model commands' work: rebuild the shipped model (`finsent build-model`), measure a model on
labelled files (`evaluate`) and export a trained folder into a model repository (`export`). The
training modules that pull in torch are imported when a command runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from finsent.training.build import STEPS as BUILD_STEPS  # light: no torch

__all__ = ["BUILD_STEPS", "BuildResult", "EvaluationError", "build_model", "evaluate_model", "export_model"]


@dataclass(frozen=True)
class BuildResult:
    minutes: float  # of the steps run this time (skipped steps count nothing)
    card: Path
    shipped_to: Path | None


def build_model(
    data_dir: Path,
    out: Path,
    steps: tuple[str, ...] = BUILD_STEPS,
    *,
    teacher_epochs: int | None = None,
    student_epochs: int | None = None,
    seed: int = 42,
    news_weight: float | None = None,
    ship: bool = False,
) -> BuildResult:
    """Run the build's steps (each skipped when done); `None` keeps the shipped recipe's value.
    Raises FileNotFoundError or ValueError with a message for the user."""
    from finsent.training.build import BuildPlan, build

    for name, epochs in (("teacher_epochs", teacher_epochs), ("student_epochs", student_epochs)):
        if epochs is not None and epochs < 1:
            raise ValueError(f"{name} must be at least 1 (None keeps the recipe's), got {epochs}")
    plan = BuildPlan(data_dir, out)
    if news_weight is not None:
        plan.news_weight = news_weight
    plan.teacher = replace(
        plan.teacher, epochs=plan.teacher.epochs if teacher_epochs is None else teacher_epochs, seed=seed
    )
    plan.student = replace(
        plan.student, epochs=plan.student.epochs if student_epochs is None else student_epochs, seed=seed
    )
    times = build(plan, steps)
    shipped_to = None
    if ship:
        from finsent.shipped import SHIPPED_MODEL
        from finsent.training.build import ship as ship_build

        shipped_to = ship_build(plan, SHIPPED_MODEL)
    minutes = sum(v for k, v in times.items() if k in BUILD_STEPS) / 60
    return BuildResult(minutes, plan.path("MODEL_CARD.md"), shipped_to)


class EvaluationError(ValueError):
    """The data or the model cannot be evaluated as asked (a bad file, no event head): the message
    says which."""


def evaluate_model(model: Path, data: list[Path], *, max_length: int, head: str) -> dict[str, Any]:
    """The classification report of `model` (a trained folder or an exported version) on `data`."""
    from finsent.training.data import DataError
    from finsent.training.evaluate import NoEventHead, evaluate

    try:
        return evaluate(model, data, max_length=max_length, head=head)
    except (NoEventHead, DataError) as exc:
        raise EvaluationError(str(exc)) from exc


def export_model(
    model: Path,
    repo: Path,
    name: str,
    *,
    fmt: str,
    max_length: int,
    eval_data: list[Path] | None = None,
    event_eval_data: list[Path] | None = None,
) -> dict[str, Any]:
    """Export `model` as the next version of `repo/name`; its manifest. `tensorrt` builds an
    engine (on a host with TensorRT), the other formats ONNX."""
    if fmt == "tensorrt":
        from finsent.training.tensorrt import build_engine

        return build_engine(model, repo, name, max_length=max_length)
    from finsent.training.export import export

    return export(
        model,
        repo,
        name,
        fmt=fmt,
        max_length=max_length,
        eval_data=eval_data,
        event_eval_data=event_eval_data,
    )
