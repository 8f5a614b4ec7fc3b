"""Hyper-parameter sweep for the FPB fine-tune (issue #3). Meant for a GPU host: there a run takes
seconds and several run side by side; on 2 CPU cores the same sweep would take a day.

The data and splits are bench/quality.py's: FPB 50agree de-duplicated, 80/20 stratified with seed
42; validation = a 10% stratified split of the training part (seed 42). The selection rule is fixed
before the run: **mean validation macro-F1 over training seeds**. Test figures are recorded for
every run, for the record, and never used to choose.

Phases, each bounded by the time budget:
  1. a random sample of the grid below, training seed 42 (the current defaults first);
  2. the best configurations of phase 1 again with seeds 43 and 44;
  3. recipe B (FPB + 80% of twitter_fin_train) with the winner, seeds 42-44, reported on the FPB
     test split and the twitter 20%.

Run: `python -m bench.experiments.sweep [--data DIR] [--base DIR] [--budget-s 420] [--workers 8]`.
Results: bench/results/quality-sweep.json, written after every run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import RESULTS
from bench.experiments.finetune import DEFAULTS, data_missing, run_one, training_arguments
from bench.pool import machine, run_jobs, spawn_pool

GRID = {
    "pooling": ["mean", "cls"],
    "lr": [3e-5, 5e-5, 8e-5, 1.5e-4],
    "batch_size": [16, 32],
    "layer_decay": [1.0, 0.8],
    "label_smoothing": [0.0, 0.1],
    "class_weights": [True, False],
}


def configs(sample: int, rng: random.Random) -> list[dict[str, Any]]:
    every = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    first = [DEFAULTS, {**DEFAULTS, "pooling": "cls"}]
    rest = [c for c in every if c not in first]
    rng.shuffle(rest)
    return first + rest[: max(0, sample - len(first))]


def key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


def ranking(runs: list[dict[str, Any]], recipe: str = "A") -> list[tuple[float, str, list[dict]]]:
    by: dict[str, list[dict]] = {}
    for r in runs:
        if r["recipe"] == recipe:
            by.setdefault(key(r["config"]), []).append(r)
    scored = [(sum(r["validation"]["macro_f1"] for r in rs) / len(rs), k, rs) for k, rs in by.items()]
    return sorted(scored, key=lambda t: (-len(t[2]), -t[0]))  # more seeds first, then validation


def summary(runs: list[dict[str, Any]], recipe: str) -> list[dict[str, Any]]:
    rows = []
    for mean_val, k, rs in ranking(runs, recipe):
        row: dict[str, Any] = {"config": json.loads(k), "seeds": [r["seed"] for r in rs]}
        row["validation_macro_f1_mean"] = round(mean_val, 4)
        for test in ("fpb_test", "twitter_test"):
            if test in rs[0]:
                row[f"{test}_accuracy_mean"] = round(sum(r[test]["accuracy"] for r in rs) / len(rs), 4)
                row[f"{test}_macro_f1_mean"] = round(sum(r[test]["macro_f1"] for r in rs) / len(rs), 4)
        rows.append(row)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    training_arguments(p)
    p.add_argument("--budget-s", type=float, default=420)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--sample", type=int, default=32, help="grid configurations tried in phase 1")
    p.add_argument("--top", type=int, default=4, help="phase-1 configurations re-run with more seeds")
    p.add_argument("--out", type=Path, default=RESULTS / "quality-sweep.json")
    args = p.parse_args()
    if data_missing(args.data):
        return 0

    started = time.monotonic()
    deadline = started + args.budget_s
    job_base = {
        "data": str(args.data),
        "base": str(args.base) if args.base else None,
        "epochs": args.epochs,
        "patience": args.patience,
        "smoke": args.smoke,
    }
    runs: list[dict[str, Any]] = []
    failures: list[str] = []
    result: dict[str, Any] = {
        "benchmark": "quality-sweep",
        "when": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "selection_rule": "mean validation macro-F1 over training seeds; test figures never used to choose",
        "grid": GRID,
        "epochs": args.epochs,
        "patience": args.patience,
        "base": str(args.base) if args.base else "packaged all-MiniLM-L6-v2",
    }

    def save() -> None:
        result.update(
            runs=runs,
            failures=failures,
            elapsed_s=round(time.monotonic() - started, 1),
            recipe_A=summary(runs, "A"),
            recipe_B=summary(runs, "B"),
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    def record(r: dict[str, Any]) -> None:
        runs.append(r)
        print(
            f"[{time.monotonic() - started:6.0f}s] {r['recipe']} seed {r['seed']} {r['config']}: "
            f"val F1 {r['validation']['macro_f1']:.4f} test acc {r['fpb_test']['accuracy']:.4f} "
            f"F1 {r['fpb_test']['macro_f1']:.4f} ({r['seconds']}s, best epoch {r['best_epoch']})",
            flush=True,
        )

    def phase(jobs: list[dict[str, Any]], stop_at: float, pool: ProcessPoolExecutor) -> None:
        run_jobs(
            pool,
            run_one,
            [{**job_base, **job} for job in jobs],
            workers=args.workers,
            start_until=stop_at,
            on_result=record,
            failures=failures,
            save=save,
            deadline=deadline,
        )

    budget = args.budget_s
    pool = spawn_pool(args.workers)
    try:
        grid = configs(args.sample, random.Random(7))
        phase([{"recipe": "A", "config": c, "seed": 42} for c in grid], started + 0.4 * budget, pool)
        top = [json.loads(k) for _, k, _ in ranking(runs)[: args.top]]
        phase(
            [{"recipe": "A", "config": c, "seed": s} for c in top for s in (43, 44)],
            started + 0.58 * budget,
            pool,
        )
        ranked = ranking(runs)
        if ranked and (args.data / "twitter_fin_train.csv").is_file():
            winner = json.loads(ranked[0][1])
            result["winner"] = winner
            phase([{"recipe": "B", "config": winner, "seed": s} for s in (42, 43, 44)], deadline, pool)
    finally:
        save()
        pool.shutdown(wait=False, cancel_futures=True)
    print(json.dumps({"recipe_A_top5": result["recipe_A"][:5], "recipe_B": result["recipe_B"]}, indent=1))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
