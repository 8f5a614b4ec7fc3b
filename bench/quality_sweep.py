"""Hyper-parameter sweep for the FPB fine-tune (issue #3). Meant for a GPU host: there a run takes
seconds and several run side by side; on 2 CPU cores the same sweep would take a day.

The data and splits are quality_bench.py's: FPB 50agree de-duplicated, 80/20 stratified with seed
42; validation = a 10% stratified split of the training part (seed 42). The selection rule is fixed
before the run: **mean validation macro-F1 over training seeds**. Test figures are recorded for
every run, for the record, and never used to choose.

Phases, each bounded by the time budget:
  1. a random sample of the grid below, training seed 42 (the current defaults first);
  2. the best configurations of phase 1 again with seeds 43 and 44;
  3. recipe B (FPB + 80% of twitter_fin_train) with the winner, seeds 42-44, reported on the FPB
     test split and the twitter 20%.

Run: `python bench/quality_sweep.py [--data DIR] [--base DIR] [--budget-s 420] [--workers 8]`.
Results: bench/results/quality-sweep.json, written after every run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "services"))

from quality_bench import splits as benchmark_splits  # noqa: E402 - the same data, the same splits

DEFAULTS = {
    "pooling": "mean",
    "lr": 8e-5,
    "batch_size": 32,
    "layer_decay": 1.0,
    "label_smoothing": 0.0,
    "class_weights": True,
}
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


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One fine-tune in a worker process; returns validation and test figures."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    from finsent.training.classifier import load_classifier
    from finsent.training.data import stratified_split
    from finsent.training.scoring_metrics import classification_report
    from finsent.training.train import TrainConfig, predict_torch, train

    torch.set_num_threads(job.get("threads", 2))
    splits = benchmark_splits(Path(job["data"]), 42)
    train_all = list(splits["fpb_train"])
    tests = {"fpb_test": splits["fpb_test"]}
    if job["recipe"] == "B":
        train_all += splits["tw_train"]
        tests["twitter_test"] = splits["tw_test"]
    fit, val = stratified_split(train_all, 0.1, 42)
    if job.get("agreement_weights"):
        # Only the part trained on: validation and test keep every text, at weight 1.
        from dataclasses import replace

        from quality_bench import agreement_levels

        levels = agreement_levels(Path(job["data"]))
        weight_of = {int(k): v for k, v in job["agreement_weights"].items()}
        fit = [replace(e, weight=weight_of[levels.get(e.text, 50)]) for e in fit]
        fit = [e for e in fit if e.weight > 0]
    if job.get("smoke"):
        fit, val = fit[:64], val[:32]
        tests = {k: v[:32] for k, v in tests.items()}
    c = job["config"]
    cfg = TrainConfig(
        base=Path(job["base"]) if job.get("base") else None,
        epochs=job["epochs"],
        patience=job["patience"],
        seed=job["seed"],
        progress=False,
        max_steps=2 if job.get("smoke") else None,
        **{
            k: c[k]
            for k in ("pooling", "lr", "batch_size", "layer_decay", "label_smoothing", "class_weights")
        },
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        meta = train(fit, Path(tmp) / "model", cfg, eval_set=val)
        model = load_classifier(Path(tmp) / "model").to(meta["device"])
        tokenizer = AutoTokenizer.from_pretrained(str(Path(tmp) / "model"))
        result: dict[str, Any] = {
            "recipe": job["recipe"],
            "config": c,
            "seed": job["seed"],
            "device": meta["device"],
            "best_epoch": meta["best_epoch"],
            "epochs_run": len(meta["history"]),
            "seconds": round(time.perf_counter() - started, 1),
            "trained_on": len(fit),
            "validation": {
                "n": len(val),
                "accuracy": round(meta["metrics"]["accuracy"], 4),
                "macro_f1": round(meta["metrics"]["macro_f1"], 4),
            },
        }
        for name, examples in tests.items():
            y = np.array([e.label for e in examples])
            logits = predict_torch(model, tokenizer, [e.text for e in examples], 128)
            r = classification_report(y, logits.argmax(1))
            result[name] = {
                "n": len(examples),
                "accuracy": round(r["accuracy"], 4),
                "macro_f1": round(r["macro_f1"], 4),
            }
            if job.get("keep_probs"):  # for ensembles, in the examples' order
                z = np.exp(logits - logits.max(1, keepdims=True))
                result[name]["probs"] = np.round(z / z.sum(1, keepdims=True), 5).tolist()
    return result


def training_arguments(p: argparse.ArgumentParser) -> None:
    """The options every GPU quality script shares."""
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--base", type=Path, default=None, help="base model folder (default: the packaged one)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="tiny data, 2 steps: checks the script runs")


def data_missing(data: Path) -> bool:
    if (data / "fpb_50agree.csv").is_file():
        return False
    print(f"skipped: {data}/fpb_50agree.csv is not here (the labelled data is not in the repository)")
    return True


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
    }


def spawn_pool(workers: int) -> ProcessPoolExecutor:
    # Spawned, not forked: each run initialises its own torch and CUDA.
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def run_jobs(
    pool: ProcessPoolExecutor,
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    jobs: list[dict[str, Any]],
    *,
    workers: int,
    start_until: float,
    on_result: Callable[[dict[str, Any]], None],
    failures: list[str],
    save: Callable[[], None],
    deadline: float | None = None,
) -> None:
    """`fn` on every job, at most `workers` at a time; no job starts after `start_until`
    (time.monotonic). Each result goes to `on_result` as it comes; a failed run is recorded in
    `failures` and the others go on; `save` follows every finished run. Past `deadline`, runs still
    going are abandoned and what is measured is kept."""
    pending: set[Future] = set()
    queue = list(jobs)
    while queue or pending:
        while queue and len(pending) < workers and time.monotonic() < start_until:
            pending.add(pool.submit(fn, queue.pop(0)))
        if not pending:
            break
        timeout = None if deadline is None else max(1.0, deadline - time.monotonic())
        done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:  # the whole budget is spent: keep what is measured
            for f in pending:
                f.cancel()
            return
        for f in done:
            try:
                on_result(f.result())
            except Exception as exc:  # recorded; the others go on
                failures.append(f"{type(exc).__name__}: {exc}")
                print("run failed:", failures[-1], flush=True)
            save()


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
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "quality-sweep.json")
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
