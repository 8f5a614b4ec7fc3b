"""How far is the 22M-parameter base from the FPB targets (issue #3)? Seed ensembles as a bound.

Trains the current defaults with several seeds, for recipe A (FPB train) and recipe B (FPB train +
80% of twitter_fin_train), on bench/quality.py's splits, and reports on FPB's 20% test split:
every single model, the mean and spread over seeds, and the ensembles that average the
probabilities of the first 3, 5 and all seeds (fixed in advance: no choice is made on test data).

Why: an ensemble of seeds is roughly the ceiling of what distilling it into one model
(self-distillation) could give. If even the ensemble misses accuracy 0.86 / macro-F1 0.84, no
training trick on this base is likely to reach them, and the gap is the base model's.

Meant for a GPU host (runs side by side, a minute or two each); on 2 CPU cores it would take hours.
Run: `python -m bench.experiments.ensemble [--data DIR] [--base DIR] [--seeds 8] [--workers 16]`.
Results: bench/results/quality-ensemble.json, written after every run.
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
from bench.experiments.finetune import DEFAULTS, data_missing, run_one, training_arguments
from bench.pool import machine, run_jobs, spawn_pool
from bench.quality import splits as benchmark_splits

TARGETS = {"accuracy": 0.86, "macro_f1": 0.84}


def ensemble(runs: list[dict[str, Any]], test: str, labels: list[int]) -> dict[str, float]:
    import numpy as np

    from finsent.training.scoring_metrics import classification_report

    probs = np.mean([np.array(r[test]["probs"]) for r in runs], axis=0)
    r = classification_report(np.array(labels), probs.argmax(1))
    return {"models": len(runs), "accuracy": round(r["accuracy"], 4), "macro_f1": round(r["macro_f1"], 4)}


def report(runs: list[dict[str, Any]], recipe: str, test: str, labels: list[int]) -> dict[str, Any]:
    mine = sorted((r for r in runs if r["recipe"] == recipe and test in r), key=lambda r: r["seed"])
    if not mine:
        return {}
    acc = [r[test]["accuracy"] for r in mine]
    f1 = [r[test]["macro_f1"] for r in mine]
    out: dict[str, Any] = {
        "seeds": [r["seed"] for r in mine],
        "single": {
            "accuracy_mean": round(statistics.mean(acc), 4),
            "accuracy_sd": round(statistics.pstdev(acc), 4),
            "accuracy_range": [min(acc), max(acc)],
            "macro_f1_mean": round(statistics.mean(f1), 4),
            "macro_f1_sd": round(statistics.pstdev(f1), 4),
            "macro_f1_range": [min(f1), max(f1)],
        },
        "ensembles": [ensemble(mine[:k], test, labels) for k in sorted({3, 5, len(mine)}) if k <= len(mine)],
    }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    training_arguments(p)
    p.add_argument("--seeds", type=int, default=8, help="seeds per recipe, from 42 up")
    p.add_argument("--recipes", default="A,B")
    p.add_argument("--workers", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    p.add_argument("--budget-s", type=float, default=480, help="no new run starts after this")
    p.add_argument("--out", type=Path, default=RESULTS / "quality-ensemble.json")
    args = p.parse_args()
    if data_missing(args.data):
        return 0

    started = time.monotonic()
    splits = benchmark_splits(args.data, 42)
    labels = {"fpb_test": [e.label for e in splits["fpb_test"]]}
    if "tw_test" in splits:
        labels["twitter_test"] = [e.label for e in splits["tw_test"]]
    if args.smoke:
        labels = {k: v[:32] for k, v in labels.items()}
    recipes = [r for r in args.recipes.split(",") if r == "A" or (r == "B" and "tw_train" in splits)]
    jobs = [
        {
            "data": str(args.data),
            "base": str(args.base) if args.base else None,
            "epochs": args.epochs,
            "patience": args.patience,
            "smoke": args.smoke,
            "threads": args.threads,
            "keep_probs": True,
            "recipe": recipe,
            "config": DEFAULTS,
            "seed": 42 + i,
        }
        for i in range(args.seeds)
        for recipe in recipes
    ]
    runs: list[dict[str, Any]] = []
    failures: list[str] = []
    result: dict[str, Any] = {
        "benchmark": "quality-ensemble",
        "when": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "config": DEFAULTS,
        "epochs": args.epochs,
        "patience": args.patience,
        "base": str(args.base) if args.base else "packaged all-MiniLM-L6-v2",
        "targets_fpb_test": TARGETS,
    }

    def save() -> None:
        result["runs"] = [{k: v for k, v in r.items()} for r in runs]
        for r in result["runs"]:  # the probabilities are for the ensembles, not for the file
            for test in labels:
                if test in r:
                    r[test] = {k: v for k, v in r[test].items() if k != "probs"}
        result["failures"] = failures
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        result["summary"] = {
            f"recipe_{recipe}": {test: report(runs, recipe, test, y) for test, y in labels.items()}
            for recipe in recipes
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    def record(r: dict[str, Any]) -> None:
        runs.append(r)
        print(
            f"[{time.monotonic() - started:5.0f}s] {r['recipe']} seed {r['seed']}: "
            f"FPB test acc {r['fpb_test']['accuracy']:.4f} F1 {r['fpb_test']['macro_f1']:.4f} "
            f"({r['seconds']}s, best epoch {r['best_epoch']})",
            flush=True,
        )

    pool = spawn_pool(args.workers)
    try:
        run_jobs(
            pool,
            run_one,
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
