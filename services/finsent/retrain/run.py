"""One retraining run: data -> train -> export -> evaluate against the serving version -> promote or
reject -> report. Every run, whatever its outcome, leaves a row in the ledger and a report.

Nothing reaches the live repository before the decision: the candidate is exported into the run's
scratch space and evaluated there, in the same ONNX form the scorers will load. Promotion is the
last step and one rename; a run stopped at any point before it (SIGTERM, a crash) leaves the
serving version as it was."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from finsent.contracts.label import LabelEvent
from finsent.contracts.news import LABELS
from finsent.inference.model_repo import latest_version, read_manifest, sha256, version_dir, versions
from finsent.locks import try_exclusive
from finsent.retrain import ledger as outcomes
from finsent.retrain.config import RetrainConfig
from finsent.retrain.gate import decide
from finsent.retrain.label_store import LabelStore, ResolvedLabel, resolve, text_key
from finsent.retrain.ledger import RunLedger
from finsent.retrain.promote import prune, republish
from finsent.retrain.report import RunReport, write_report
from finsent.retrain.state import StatePaths
from finsent.training.config import TrainConfig
from finsent.training.data import LABEL_INDEX, DataError, Example, LoadReport, load
from finsent.training.scoring_metrics import classification_report
from finsent.training.train import TrainingCancelled

log = logging.getLogger(__name__)

StopCheck = Callable[[], bool]


class RetrainError(RuntimeError):
    """A run that cannot go ahead as configured (say what to fix)."""


@dataclass
class RunResult:
    run_id: int
    outcome: str
    reason: str
    report: Path | None
    promoted_version: int | None = None


@dataclass
class TrainingData:
    train: list[Example]
    holdout: list[Example]  # the newest labels, held out
    golden: list[Example]
    counts: dict[str, Any]


def build_data(cfg: RetrainConfig, labels: list[ResolvedLabel], resolution: dict[str, int]) -> TrainingData:
    """The base data sets plus the label store's labels (an analyst's label overrides the base data's
    label of the same text), minus the newest labels' held-out slice; and the golden set, which must
    not overlap any of it."""
    if not cfg.golden:
        raise RetrainError("no golden set configured (FINSENT_RETRAIN_GOLDEN): a run needs one to compare on")
    golden, golden_report = load(cfg.golden)
    golden_keys = {text_key(e.text) for e in golden}
    base, base_report = load(cfg.base_data) if cfg.base_data else ([], LoadReport())
    overlap = [e.text for e in base if text_key(e.text) in golden_keys]
    if overlap:
        raise RetrainError(
            f"the golden set overlaps the training data in {len(overlap)} texts (e.g. {overlap[0][:80]!r}); "
            "remove them from one side: a model must never be evaluated on what it was trained on"
        )
    # An analyst may label a golden text; it stays golden (evaluated on, never trained on).
    on_golden = [lbl for lbl in labels if text_key(lbl.text) in golden_keys]
    usable = sorted(
        (lbl for lbl in labels if text_key(lbl.text) not in golden_keys), key=lambda x: x.labelled_at
    )
    n_hold = min(cfg.holdout_max, int(len(usable) * cfg.holdout_fraction))
    if n_hold < cfg.holdout_min:
        n_hold = 0
    held, trained = usable[len(usable) - n_hold :], usable[: len(usable) - n_hold]
    label_keys = {text_key(lbl.text) for lbl in usable}
    train = [e for e in base if text_key(e.text) not in label_keys]
    train += [Example(lbl.text, LABEL_INDEX[lbl.label]) for lbl in trained]
    holdout = [Example(lbl.text, LABEL_INDEX[lbl.label]) for lbl in held]
    if not train:
        raise RetrainError("nothing to train on: no base data configured and no labels stored")
    counts = {
        "base_examples": len(base),
        "base_files": base_report.files,
        "base_overridden_by_labels": len(base) - (len(train) - len(trained)),
        "labels": resolution,
        "labels_trained": len(trained),
        "labels_held_out": len(holdout),
        "labels_on_golden_set": len(on_golden),
        "train_examples": len(train),
        "train_by_label": {str(lab): sum(1 for e in train if e.label == i) for i, lab in enumerate(LABELS)},
        "golden_examples": len(golden),
        "golden_files": golden_report.files,
    }
    return TrainingData(train, holdout, golden, counts)


def _check(should_stop: StopCheck | None) -> None:
    if should_stop is not None and should_stop():
        raise TrainingCancelled("stopped between steps")


def _serving_checkpoint(cfg: RetrainConfig, serving: int | None) -> Path | None:
    """The PyTorch folder behind the serving version, to warm-start from (when it still exists)."""
    if not cfg.warm_start or serving is None:
        return None
    source = Path(read_manifest(version_dir(cfg.repo, cfg.model_name, serving)).source)
    return source if (source / "config.json").is_file() else None


def _plan(cfg: RetrainConfig) -> str:
    if cfg.plan != "auto":
        return cfg.plan
    try:
        import torch

        return "teacher-student" if torch.cuda.is_available() else "student"
    except ImportError:
        return "student"


def _train_models(
    cfg: RetrainConfig, data: TrainingData, work: Path, warm: Path | None, should_stop: StopCheck | None
) -> tuple[Path, dict[str, Any]]:
    """Train the model to serve; returns its folder and what was done (for the report and lineage)."""
    from finsent.training.distill import distill
    from finsent.training.train import train

    plan = _plan(cfg)
    init_from = str(warm) if warm else None
    student_cfg: TrainConfig = replace(cfg.student, init_from=init_from, progress=cfg.progress)
    done: dict[str, Any] = {"plan": plan, "warm_start_from": str(warm) if warm else None}
    if plan == "student":
        meta = train(data.train, work / "student", student_cfg, should_stop=should_stop)
        done["student"] = {"config": meta["config"], "metrics": meta["metrics"], "base": meta["base"]}
        return work / "student", done
    if plan != "teacher-student":
        raise RetrainError(f"unknown plan {plan!r}: expected auto, student or teacher-student")
    teacher_cfg: TrainConfig = replace(cfg.teacher, progress=cfg.progress)
    previous = _latest_teacher(StatePaths(cfg.state_dir)) if cfg.warm_start else None
    if previous is not None:  # the teacher learns on from the last promoted run's teacher
        teacher_cfg = replace(teacher_cfg, init_from=str(previous))
    done["teacher_warm_start_from"] = str(previous) if previous else None
    teacher_meta = train(data.train, work / "teacher", teacher_cfg, should_stop=should_stop)
    done["teacher"] = {"config": teacher_meta["config"], "metrics": teacher_meta["metrics"]}
    _check(should_stop)
    student_cfg = replace(
        student_cfg, distill_temperature=cfg.distill_temperature, distill_alpha=cfg.distill_alpha
    )
    meta = distill(work / "teacher", data.train, [], work / "student", student_cfg, should_stop=should_stop)
    done["student"] = {"config": meta["config"], "metrics": meta["metrics"], "base": meta["base"]}
    return work / "student", done


def _latest_teacher(paths: StatePaths) -> Path | None:
    teachers = sorted(paths.checkpoints.glob("run-*-teacher"), key=lambda p: int(p.name.split("-")[1]))
    return teachers[-1] if teachers and (teachers[-1] / "config.json").is_file() else None


def _evaluate(folder: Path, examples: list[Example], max_length: int) -> dict[str, Any] | None:
    from finsent.training.evaluate import predict

    if not examples:
        return None
    logits = predict(folder, [e.text for e in examples], max_length)
    return classification_report(np.array([e.label for e in examples]), logits.argmax(axis=1))


def retrain(
    cfg: RetrainConfig, *, trigger: str = "manual", should_stop: StopCheck | None = None
) -> RunResult:
    """One run, under the run lock (LockBusy if another run holds it)."""
    paths = StatePaths(cfg.state_dir)
    with try_exclusive(paths.run_lock, "the retraining run lock"):
        ledger = RunLedger(paths.ledger)
        for stale in ledger.abandon_unfinished():
            log.warning(
                "run %d was still marked running from a process that stopped: marked abandoned", stale
            )
        contents = LabelStore(paths.labels).read()
        total = len(contents.events)
        last = ledger.last(outcomes.COMPLETED)
        new_labels = total - (last.labels_total if last else 0)
        run_id = ledger.start(trigger, total)
        report = RunReport(
            run_id=run_id,
            trigger=trigger,
            started_at=datetime.now(UTC).isoformat(),
            model_name=cfg.model_name,
            labels_stored=total,
            new_labels_since_last_run=new_labels,
            damaged_label_lines=len(contents.damaged),
        )
        started = time.monotonic()
        work = paths.work / f"run-{run_id}"
        try:
            if new_labels < cfg.min_new_labels:
                return _finish(
                    ledger, paths, report, started, outcomes.SKIPPED,
                    f"{new_labels} new labels since the last run; at least {cfg.min_new_labels} are needed",
                )  # fmt: skip
            result = _run(cfg, paths, ledger, report, started, work, contents.events, should_stop)
            return result
        except TrainingCancelled as exc:
            return _finish(
                ledger, paths, report, started, outcomes.ABANDONED, f"stopped before a decision ({exc})"
            )
        except (RetrainError, DataError) as exc:
            return _finish(ledger, paths, report, started, outcomes.FAILED, str(exc))
        except Exception as exc:
            log.exception("retraining run %d failed", run_id)
            return _finish(ledger, paths, report, started, outcomes.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _run(
    cfg: RetrainConfig,
    paths: StatePaths,
    ledger: RunLedger,
    report: RunReport,
    started: float,
    work: Path,
    events: list[LabelEvent],
    should_stop: StopCheck | None,
) -> RunResult:
    from finsent.training.export import export

    run_id = report.run_id
    resolution = resolve(events)
    data = build_data(cfg, resolution.labels, resolution.as_dict())
    report.data = data.counts
    serving = latest_version(cfg.repo, cfg.model_name)
    report.serving_version_before = serving
    warm = _serving_checkpoint(cfg, serving)
    log.info(
        "run %d: training on %d examples (%d labels held out, golden set %d), warm start: %s",
        run_id, len(data.train), len(data.holdout), len(data.golden), warm or "none",
    )  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    model_dir, trained = _train_models(cfg, data, work, warm, should_stop)
    report.training = trained
    _check(should_stop)
    max_length = cfg.student.max_length
    candidate_repo = work / "candidate"
    exported = export(model_dir, candidate_repo, cfg.model_name, fmt=cfg.export_format, max_length=max_length)
    candidate_dir = version_dir(candidate_repo, cfg.model_name, int(exported["version"]))
    report.candidate = {"format": exported["format"], "checks": exported.get("checks", {})}
    _check(should_stop)
    serving_dir = version_dir(cfg.repo, cfg.model_name, serving) if serving is not None else None
    metrics = {
        "golden": {
            "candidate": _evaluate(candidate_dir, data.golden, max_length),
            "serving": _evaluate(serving_dir, data.golden, max_length) if serving_dir else None,
        },
        "newest_labels": {
            "candidate": _evaluate(candidate_dir, data.holdout, max_length),
            "serving": _evaluate(serving_dir, data.holdout, max_length) if serving_dir else None,
        },
    }
    report.metrics = metrics
    golden, recent = metrics["golden"], metrics["newest_labels"]
    assert golden["candidate"] is not None  # build_data: the golden set is never empty
    decision = decide(
        golden["candidate"],
        golden["serving"],
        cfg.gate,
        candidate_recent=recent["candidate"],
        serving_recent=recent["serving"],
    )
    report.gate = {**asdict(cfg.gate), "reasons": decision.reasons}
    _check(should_stop)  # the last point a stop is honoured: from here the run completes
    if not decision.promote:
        return _finish(ledger, paths, report, started, outcomes.REJECTED, decision.reasons[0])
    checkpoint = paths.checkpoints / f"run-{run_id}"
    paths.checkpoints.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(checkpoint, ignore_errors=True)
    model_dir.rename(checkpoint)
    if (work / "teacher").is_dir():
        (work / "teacher").rename(paths.checkpoints / f"run-{run_id}-teacher")
    lineage = {
        "parent_version": serving,
        "retrain_run": run_id,
        "plan": trained["plan"],
        "warm_start_from": trained["warm_start_from"],
        "data": {
            **{p: h for p, h in data.counts["base_files"].items()},
            "label_store": _label_store_digest(paths),
        },
        "labels": data.counts["labels"],
        "recipe": trained["student"]["config"],
        "golden": {"files": data.counts["golden_files"], "macro_f1": golden["candidate"]["macro_f1"]},
    }
    manifest = republish(
        candidate_dir, cfg.repo, cfg.model_name, {"source": str(checkpoint.resolve()), "lineage": lineage}
    )
    removed = prune(cfg.repo, cfg.model_name, cfg.keep_versions)
    _prune_checkpoints(cfg, paths)
    report.promoted_version = manifest.version
    report.pruned_versions = removed
    reason = f"promoted as version {manifest.version}: " + "; ".join(decision.reasons)
    return _finish(ledger, paths, report, started, outcomes.PROMOTED, reason, manifest.version)


def _label_store_digest(paths: StatePaths) -> dict[str, str]:
    return {p.name: sha256(p) for p in LabelStore(paths.labels).files()}


def _prune_checkpoints(cfg: RetrainConfig, paths: StatePaths) -> None:
    """Keep the checkpoints behind kept versions, and the newest teacher; remove the rest."""
    kept = {
        Path(read_manifest(version_dir(cfg.repo, cfg.model_name, v)).source).resolve()
        for v in versions(cfg.repo, cfg.model_name)
    }
    teacher = _latest_teacher(paths)
    if teacher is not None:
        kept.add(teacher.resolve())
    for folder in paths.checkpoints.iterdir():
        if folder.is_dir() and folder.resolve() not in kept:
            shutil.rmtree(folder, ignore_errors=True)


def _finish(
    ledger: RunLedger,
    paths: StatePaths,
    report: RunReport,
    started: float,
    outcome: str,
    reason: str,
    promoted: int | None = None,
) -> RunResult:
    report.outcome, report.reason = outcome, reason
    report.finished_at = datetime.now(UTC).isoformat()
    report.duration_s = round(time.monotonic() - started, 1)
    # A skipped run has nothing to report beyond its reason (kept in the ledger).
    path = write_report(paths.reports, report) if outcome != outcomes.SKIPPED else None
    details = {
        "report": str(path) if path else None,
        "promoted_version": promoted,
        "candidate_golden_macro_f1": report.golden_macro_f1("candidate"),
        "serving_golden_macro_f1": report.golden_macro_f1("serving"),
    }
    ledger.finish(report.run_id, outcome, reason, details)
    log_fn = log.warning if outcome in (outcomes.FAILED, outcomes.ABANDONED) else log.info
    log_fn("retraining run %d: %s: %s (report %s)", report.run_id, outcome, reason, path)
    return RunResult(report.run_id, outcome, reason, path, promoted)
