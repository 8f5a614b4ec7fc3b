"""Does the annotators' agreement help the FPB fine-tune (issue #3)?

Financial PhraseBank labels each sentence by majority vote of 5-8 annotators, and its release
says how strong the majority was: every 50agree sentence is also in the 66, 75 or all-agree file,
or in none of them (50-65%). About one in eight training labels had only a bare majority. This
trains the current defaults on bench/quality.py's FPB split with the training part
  - `equal`:    every example at weight 1 (the defaults, for comparison in the same run);
  - `weighted`: loss weight 1.0 / 0.8 / 0.6 / 0.4 for agreement 100 / 75 / 66 / 50;
  - `min66`:    the 50-65% sentences left out of training;
  - `min75`:    the sentences under 75% left out of training;
fixed before the run. Validation (early stopping) and the 20% test split keep every sentence at
weight 1, so the figures compare with every earlier one. Reported on FPB's test split: each
variant's mean and range over seeds, its ensemble, and accuracy per agreement level of the test
sentences.

Meant for a GPU host (runs side by side); on 2 CPU cores it would take hours.
Run: `python -m bench.experiments.agreement [--data DIR] [--base DIR] [--seeds 5] [--workers 20]`.
Results: bench/results/quality-agreement.json, written after every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import RESULTS
from bench.experiments.ensemble import TARGETS, ensemble
from bench.experiments.finetune import DEFAULTS, data_missing, run_one, training_arguments
from bench.pool import machine, run_jobs, spawn_pool
from bench.quality import agreement_levels
from bench.quality import splits as benchmark_splits

VARIANTS: dict[str, dict[int, float] | None] = {
    "equal": None,
    "weighted": {100: 1.0, 75: 0.8, 66: 0.6, 50: 0.4},
    "min66": {100: 1.0, 75: 1.0, 66: 1.0, 50: 0.0},
    "min75": {100: 1.0, 75: 1.0, 66: 0.0, 50: 0.0},
}


def by_level(runs: list[dict[str, Any]], labels: list[int], levels: list[int]) -> dict[str, Any]:
    """Mean test accuracy over seeds on the test sentences of each agreement level."""
    import numpy as np

    y, lv = np.array(labels), np.array(levels)
    out = {}
    for level in sorted(set(levels), reverse=True):
        mask = lv == level
        acc = [float((np.array(r["fpb_test"]["probs"]).argmax(1)[mask] == y[mask]).mean()) for r in runs]
        out[str(level)] = {"n": int(mask.sum()), "accuracy_mean": round(statistics.mean(acc), 4)}
    return out


def summary(runs: list[dict[str, Any]], labels: list[int], levels: list[int]) -> dict[str, Any]:
    out = {}
    for name in VARIANTS:
        mine = sorted((r for r in runs if r["variant"] == name), key=lambda r: r["seed"])
        if not mine:
            continue
        acc = [r["fpb_test"]["accuracy"] for r in mine]
        f1 = [r["fpb_test"]["macro_f1"] for r in mine]
        out[name] = {
            "seeds": [r["seed"] for r in mine],
            "trained_on": mine[0]["trained_on"],
            "accuracy_mean": round(statistics.mean(acc), 4),
            "accuracy_range": [min(acc), max(acc)],
            "macro_f1_mean": round(statistics.mean(f1), 4),
            "macro_f1_range": [min(f1), max(f1)],
            "ensemble": ensemble(mine, "fpb_test", labels),
            "accuracy_by_agreement": by_level(mine, labels, levels),
        }
    return out


def run_variant(job: dict[str, Any]) -> dict[str, Any]:
    result = run_one(job)
    result["variant"] = job["variant"]
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    training_arguments(p)
    p.add_argument("--seeds", type=int, default=5, help="seeds per variant, from 42 up")
    p.add_argument("--workers", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    p.add_argument("--budget-s", type=float, default=420, help="no new run starts after this")
    p.add_argument("--out", type=Path, default=RESULTS / "quality-agreement.json")
    args = p.parse_args()
    if data_missing(args.data):
        return 0
    levels_of = agreement_levels(args.data)
    if not levels_of:
        print(f"skipped: the stricter FPB files ({args.data}/fpb_66agree.csv ...) are not here")
        return 0

    started = time.monotonic()
    splits = benchmark_splits(args.data, 42)
    test = splits["fpb_test"][:32] if args.smoke else splits["fpb_test"]
    labels = [e.label for e in test]
    levels = [levels_of.get(e.text, 50) for e in test]
    jobs = [
        {
            "data": str(args.data),
            "base": str(args.base) if args.base else None,
            "epochs": args.epochs,
            "patience": args.patience,
            "smoke": args.smoke,
            "threads": args.threads,
            "keep_probs": True,
            "recipe": "A",
            "config": DEFAULTS,
            "seed": 42 + i,
            "variant": name,
            "agreement_weights": weights,
        }
        for i in range(args.seeds)
        for name, weights in VARIANTS.items()
    ]
    runs: list[dict[str, Any]] = []
    failures: list[str] = []
    result: dict[str, Any] = {
        "benchmark": "quality-agreement",
        "when": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "config": DEFAULTS,
        "variants": {k: v for k, v in VARIANTS.items()},
        "epochs": args.epochs,
        "patience": args.patience,
        "base": str(args.base) if args.base else "packaged all-MiniLM-L6-v2",
        "targets_fpb_test": TARGETS,
    }

    def save() -> None:
        result["runs"] = [
            {**r, "fpb_test": {k: v for k, v in r["fpb_test"].items() if k != "probs"}} for r in runs
        ]
        result["failures"] = failures
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        result["summary"] = summary(runs, labels, levels)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    def record(r: dict[str, Any]) -> None:
        runs.append(r)
        print(
            f"[{time.monotonic() - started:5.0f}s] {r['variant']} seed {r['seed']}: "
            f"FPB test acc {r['fpb_test']['accuracy']:.4f} F1 {r['fpb_test']['macro_f1']:.4f} "
            f"({r['seconds']}s, best epoch {r['best_epoch']})",
            flush=True,
        )

    pool = spawn_pool(args.workers)
    try:
        run_jobs(
            pool,
            run_variant,
            jobs,
            workers=args.workers,
            start_until=started + args.budget_s,
            on_result=record,
            failures=failures,
            save=save,
        )
    finally:
        save()
        pool.shutdown(wait=False, cancel_futures=True)
    print(json.dumps(result["summary"], indent=1))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
