"""Retraining metrics, read from durable state at each scrape (the run ledger, the model repository,
the label store), so they are right after a restart and count manual `finsent retrain` runs too.

    finsent_retrain_runs_total{outcome}                 runs by outcome
    finsent_retrain_run_duration_seconds                histogram of runs that trained
    finsent_retrain_last_success_timestamp_seconds      end of the last run that promoted or rejected
    finsent_retrain_consecutive_failures                failed runs since the last one that decided
    finsent_retrain_running                             1 while a run is in progress
    finsent_model_golden_macro_f1{role}                 the serving version's; the last run's candidate's
    finsent_model_serving_version                       the newest complete version
    finsent_labels_stored{label}                        label events in the store
    finsent_labels_pending                              label events stored since the last run that decided"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from finsent.contracts.news import LABELS
from finsent.inference.model_repo import latest_version, read_manifest, version_dir
from finsent.retrain import ledger as outcomes
from finsent.retrain.label_store import LabelStore
from finsent.retrain.ledger import RunLedger
from finsent.retrain.state import StatePaths

DURATION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400)


class RetrainCollector(Collector):
    def __init__(self, paths: StatePaths, repo: Path, name: str) -> None:
        self._paths, self._repo, self._name = paths, repo, name
        self._labels_key: tuple[Any, ...] = ()
        self._labels: Counter[str] = Counter()

    def _label_counts(self) -> Counter[str]:
        # Re-read only when a label file changed (size or mtime): a store can be large.
        store = LabelStore(self._paths.labels)
        key = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in store.files())
        if key != self._labels_key:
            self._labels = Counter(str(e.label) for e in store.read().events)
            self._labels_key = key
        return self._labels

    def collect(self) -> Iterator[Any]:
        ledger = RunLedger(self._paths.ledger)
        runs = ledger.runs()
        runs_total = CounterMetricFamily(
            "finsent_retrain_runs", "Retraining runs by outcome", labels=["outcome"]
        )
        for outcome, n in ledger.counts().items():
            runs_total.add_metric([outcome], n)
        yield runs_total

        trained = [r.duration_s for r in runs if r.outcome not in (outcomes.SKIPPED, outcomes.RUNNING)]
        durations = [d for d in trained if d is not None]
        buckets = [(str(b), sum(1 for d in durations if d <= b)) for b in DURATION_BUCKETS]
        buckets.append(("+Inf", len(durations)))
        yield HistogramMetricFamily(
            "finsent_retrain_run_duration_seconds",
            "Duration of retraining runs that trained (all outcomes but skipped)",
            buckets=buckets,
            sum_value=sum(durations),
        )
        last_ok = next((r for r in runs if r.outcome in outcomes.COMPLETED), None)
        yield GaugeMetricFamily(
            "finsent_retrain_last_success_timestamp_seconds",
            "Unix time the last retraining run that decided (promoted or rejected) finished; 0 = never",
            value=(last_ok.finished_at or 0.0) if last_ok else 0.0,
        )
        yield GaugeMetricFamily(
            "finsent_retrain_consecutive_failures",
            "Failed retraining runs since the last one that decided",
            value=outcomes.consecutive_failures(runs),  # from the rows read above, not a second read
        )
        yield GaugeMetricFamily(
            "finsent_retrain_running",
            "1 while a retraining run is in progress",
            value=float(any(r.outcome == outcomes.RUNNING for r in runs)),
        )
        yield from self._model_metrics(last_ok)
        counts = self._label_counts()
        stored = GaugeMetricFamily(
            "finsent_labels_stored", "Label events in the label store", labels=["label"]
        )
        for label in LABELS:
            stored.add_metric([str(label)], counts[str(label)])
        yield stored
        pending = sum(counts.values()) - (last_ok.labels_total if last_ok else 0)
        yield GaugeMetricFamily(
            "finsent_labels_pending",
            "Label events stored since the last retraining run that decided",
            value=max(0, pending),
        )

    def _model_metrics(self, last_ok: outcomes.Run | None) -> Iterator[Any]:
        serving = latest_version(self._repo, self._name)
        yield GaugeMetricFamily(
            "finsent_model_serving_version",
            "The newest complete model version (what the scorers load); 0 = none",
            value=serving or 0,
        )
        f1 = GaugeMetricFamily(
            "finsent_model_golden_macro_f1",
            "Golden-set macro-F1: of the serving version, and of the last retraining run's candidate",
            labels=["role"],
        )
        if serving is not None:
            lineage = read_manifest(version_dir(self._repo, self._name, serving)).model_dump().get("lineage")
            golden = (lineage or {}).get("golden") if isinstance(lineage, dict) else None
            if isinstance(golden, dict) and golden.get("macro_f1") is not None:
                f1.add_metric(["serving"], float(golden["macro_f1"]))
        if last_ok is not None and last_ok.details.get("candidate_golden_macro_f1") is not None:
            f1.add_metric(["candidate"], float(last_ok.details["candidate_golden_macro_f1"]))
        yield f1
