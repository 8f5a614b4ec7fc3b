"""A retraining run's report: typed as it is filled in, written with only what each stage set."""

from __future__ import annotations

import json
from pathlib import Path

from finsent.retrain.report import KEEP_REPORTS, RunReport, write_report


def started(run_id: int = 7) -> RunReport:
    return RunReport(
        run_id=run_id,
        trigger="schedule",
        started_at="2026-12-03T06:00:00+00:00",
        model_name="finsent_sentiment",
        labels_stored=120,
        new_labels_since_last_run=40,
        damaged_label_lines=1,
    )


def test_a_report_holds_only_what_its_stages_set(tmp_path: Path):
    report = started()
    report.serving_version_before = None  # set, to None: no version served yet
    report.outcome, report.reason, report.duration_s = "failed", "no base data", 1.5
    path = write_report(tmp_path, report)
    written = json.loads(path.read_text())
    assert written["serving_version_before"] is None and written["outcome"] == "failed"
    assert "metrics" not in written and "promoted_version" not in written  # never reached
    assert "# Retraining run 7: FAILED" in path.with_suffix(".md").read_text()


def test_the_golden_figures_are_read_from_the_metrics_when_measured():
    report = started()
    assert report.golden_macro_f1("candidate") is None
    report.metrics = {"golden": {"candidate": {"macro_f1": 0.81}, "serving": None}}
    assert report.golden_macro_f1("candidate") == 0.81 and report.golden_macro_f1("serving") is None


def test_old_reports_are_pruned_beyond_the_kept_number(tmp_path: Path):
    for run_id in range(1, KEEP_REPORTS + 3):
        (tmp_path / f"run-{run_id}.json").write_text("{}")
    write_report(tmp_path, started(KEEP_REPORTS + 3))
    assert not (tmp_path / "run-1.json").exists() and not (tmp_path / "run-3.json").exists()
    assert (tmp_path / "run-4.json").exists() and (tmp_path / f"run-{KEEP_REPORTS + 3}.json").exists()
