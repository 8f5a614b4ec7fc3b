"""One fine-tune on the quality benchmark's splits, the way every study runs it (in a pool worker),
and the options and data check the studies share."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import SHARED_DATA
from bench.quality import agreement_levels
from bench.quality import splits as benchmark_splits

DEFAULTS = {
    "pooling": "mean",
    "lr": 8e-5,
    "batch_size": 32,
    "layer_decay": 1.0,
    "label_smoothing": 0.0,
    "class_weights": True,
}


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
    p.add_argument("--data", type=Path, default=SHARED_DATA)
    p.add_argument("--base", type=Path, default=None, help="base model folder (default: the packaged one)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--smoke", action="store_true", help="tiny data, 2 steps: checks the script runs")


def data_missing(data: Path) -> bool:
    if (data / "fpb_50agree.csv").is_file():
        return False
    print(f"skipped: {data}/fpb_50agree.csv is not here (the labelled data is not in the repository)")
    return True
