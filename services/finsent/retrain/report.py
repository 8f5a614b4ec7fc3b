"""A run's report: `run-<id>.json` (everything) and `run-<id>.md` (a summary a person reads first):
data counts, the candidate's and the serving version's metrics side by side, the decision and why."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from finsent.contracts.news import LABELS

__all__ = ["KEEP_REPORTS", "RunReport", "render", "write_report"]

KEEP_REPORTS = 500  # pairs of files; the oldest go first


class RunReport(BaseModel):
    """What one run did, filled in as it goes: each stage sets its part, and only what was set is
    written (a run skipped for lack of labels has no metrics, a rejected one no promoted version).
    The sections below the top-level facts are the stages' own figures, kept as they made them."""

    run_id: int
    trigger: str
    started_at: str
    model_name: str
    labels_stored: int
    new_labels_since_last_run: int
    damaged_label_lines: int
    data: dict[str, Any] | None = None  # counts of every input, by source and label
    serving_version_before: int | None = None
    training: dict[str, Any] | None = None  # the plan, the warm start, each model's config and metrics
    candidate: dict[str, Any] | None = None  # its format and export checks
    metrics: dict[str, Any] | None = None  # golden set and newest labels, candidate and serving
    gate: dict[str, Any] | None = None  # the gate's thresholds and its reasons
    promoted_version: int | None = None
    pruned_versions: list[int] | None = None
    outcome: str | None = None
    reason: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields set so far, in declaration order: the report file's JSON."""
        return self.model_dump(exclude_unset=True)

    def golden_macro_f1(self, side: str) -> float | None:
        """The golden-set macro-F1 of `side` ("candidate" or "serving"), when measured."""
        golden = (self.metrics or {}).get("golden") or {}
        return (golden.get(side) or {}).get("macro_f1")


def write_report(folder: Path, report: RunReport) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"run-{report.run_id}.json"
    content = report.as_dict()
    _write_atomic(path, json.dumps(content, indent=2, default=str))
    _write_atomic(path.with_suffix(".md"), render(content))
    _prune(folder)
    return path


def _prune(folder: Path) -> None:
    runs = sorted(
        (int(p.stem.split("-")[1]) for p in folder.glob("run-*.json") if p.stem.split("-")[1].isdigit()),
    )
    for run_id in runs[:-KEEP_REPORTS]:
        for suffix in (".json", ".md"):
            (folder / f"run-{run_id}{suffix}").unlink(missing_ok=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("–" if value is None else str(value))


def _side_by_side(title: str, pair: dict[str, Any] | None) -> list[str]:
    if not pair or not pair.get("candidate"):
        return []
    cand, serv = pair["candidate"], pair.get("serving")
    rows = [
        f"### {title} (n={cand['n']})",
        "",
        "| metric | candidate | serving | change |",
        "|---|---|---|---|",
    ]
    keys = [("accuracy", "accuracy"), ("macro-F1", "macro_f1"), ("weighted F1", "weighted_f1")]
    pairs = [(name, cand[k], serv[k] if serv else None) for name, k in keys]
    pairs += [
        (f"F1 {lab}", cand["per_class"][str(lab)]["f1"], serv["per_class"][str(lab)]["f1"] if serv else None)
        for lab in LABELS
    ]
    for name, c, s in pairs:
        change = f"{c - s:+.4f}" if s is not None else "–"
        rows.append(f"| {name} | {_fmt(c)} | {_fmt(s)} | {change} |")
    return [*rows, ""]


def render(report: dict[str, Any]) -> str:
    lines = [
        f"# Retraining run {report['run_id']}: {report.get('outcome', 'running').upper()}",
        "",
        f"- model: {report.get('model_name')}; serving before the run: version "
        f"{_fmt(report.get('serving_version_before'))}",
        f"- trigger: {report.get('trigger')}; started {report.get('started_at')}; "
        f"took {report.get('duration_s', 0):.0f} s",
        f"- decision: {report.get('reason', '')}",
    ]
    if report.get("promoted_version") is not None:
        lines.append(f"- promoted: version {report['promoted_version']}")
    data = report.get("data")
    if data:
        labels = data.get("labels", {})
        lines += [
            "",
            "## Data",
            "",
            f"- base data: {data['base_examples']} examples from {len(data['base_files'])} file(s); "
            f"{data['base_overridden_by_labels']} relabelled by analysts",
            f"- labels: {labels.get('events', 0)} events -> {labels.get('texts', 0)} texts "
            f"({labels.get('replaced', 0)} replaced by a later label, "
            f"{labels.get('conflicts_resolved', 0)} conflicts resolved by majority, "
            f"{labels.get('conflicts_unresolved', 0)} ties left out)",
            f"- trained on {data['train_examples']} examples {data['train_by_label']}, including "
            f"{data['labels_trained']} labels; {data['labels_held_out']} newest labels held out; "
            f"{data['labels_on_golden_set']} labels of golden texts not trained on",
            f"- golden set: {data['golden_examples']} examples",
        ]
    metrics = report.get("metrics") or {}
    if metrics:
        lines += ["", "## Metrics", ""]
        lines += _side_by_side("Golden set", metrics.get("golden"))
        lines += _side_by_side("Newest labels, held out", metrics.get("newest_labels"))
    gate = report.get("gate")
    if gate:
        lines += ["## Gate", ""]
        lines += [f"- {r}" for r in gate["reasons"]]
    return "\n".join(lines) + "\n"
