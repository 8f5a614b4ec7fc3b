"""Event-type benchmark (issue #15; needs ../shared/data and, at full size, a GPU).

For each base (`--bases mpnet,minilm`) and seed, in one run:

  single  a sentiment-only model (the baseline): FPB 50agree train + 80% of twitter_fin_train;
  events  an event-only model on twitter_topic_train's repost-free 85% (the reference figure:
          a plain MiniLM fine-tune reaches macro-F1 about 0.86 on such a split);
  two     one encoder, two heads, trained on both sets at once;
  student (with `--distill`) the MiniLM student distilled from the first base's two-head model.

Reported on held-out data only: event macro-F1 on twitter_topic_train's repost-free 15% (texts
equal without links, case and spacing are all on one side), sentiment macro-F1 on FPB's 20% and
twitter_fin's 20% (bench.quality's splits). The comparisons are ratios and differences within the
run: the two-head model's sentiment against its single-head baseline (target: no more than 0.5
points lower) and its event macro-F1 against the event-only model. Targets: teacher (MPNet)
event macro-F1 >= 0.89, student (MiniLM) >= 0.87. Results: bench/results/events[-smoke].json.

Run: `python -m bench.events [--bases mpnet,minilm] [--seeds 42,43,44] [--distill]` on a GPU host;
`--smoke` trains tiny subsets on CPU in a minute or two to check the code path.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import RESULTS, SHARED_DATA
from bench.quality import save, splits

TARGETS = {"mpnet": 0.89, "minilm": 0.87}
MAX_SENTIMENT_DROP = 0.005


def event_splits(data: Path, seed: int, test_fraction: float = 0.15) -> tuple[list, list]:
    from finsent.training.data import load, repost_free_split

    examples, _ = load([data / "twitter_topic_train.csv"], head="event")
    return repost_free_split(examples, test_fraction, seed)


def _subset(examples: list, n: int | None) -> list:
    return examples if n is None else examples[:n]


def measure(model_dir: Path, tests: dict[str, list], heads: tuple[str, ...] = ("sentiment", "event")) -> dict:
    """Macro-F1 (and accuracy) of each head in `heads` the model has, on each test set labelled for it."""
    from finsent.training.evaluate import predict_heads
    from finsent.training.scoring_metrics import classification_report

    out: dict[str, Any] = {}
    for name, examples in tests.items():
        head = "event" if name == "event_test" else "sentiment"
        if head not in heads:
            continue
        logits, event_logits, labels = predict_heads(model_dir, [e.text for e in examples])
        if head == "event" and event_logits is None:
            continue
        if head == "event":
            assert labels is not None and event_logits is not None
            r = classification_report(np.array([e.event for e in examples]), event_logits.argmax(1), labels)
        else:
            r = classification_report(np.array([e.label for e in examples]), logits.argmax(1))
        out[name] = {"n": r["n"], "accuracy": round(r["accuracy"], 4), "macro_f1": round(r["macro_f1"], 4)}
    return out


def fit(
    name: str, train_set: list, work: Path, args: argparse.Namespace, base: str, seed: int, **extra
) -> Path:
    from finsent.training.train import TrainConfig, train

    cfg = TrainConfig(
        base=base,
        epochs=args.epochs,
        lr=args.lr if base != "mpnet" else min(args.lr, 3e-5),
        batch_size=args.batch_size,
        seed=seed,
        patience=args.patience,
        max_steps=args.max_steps,
        progress=not args.quiet,
        **extra,
    )
    out = work / name
    started = time.perf_counter()
    meta = train(train_set, out, cfg)
    (out / "bench_seconds").write_text(f"{time.perf_counter() - started:.1f}")
    print(f"  {name}: best epoch {meta['best_epoch']} in {time.perf_counter() - started:.0f}s", flush=True)
    return out


def run_base(base: str, seed: int, data: dict, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from finsent.training.data import merge_heads

    sentiment = data["sentiment_train"]
    events = data["event_train"]
    models = {
        "single": fit(f"{base}-{seed}-single", sentiment, work, args, base, seed),
        "events": fit(f"{base}-{seed}-events", events, work, args, base, seed),
        "two": fit(f"{base}-{seed}-two", merge_heads(list(sentiment), list(events)), work, args, base, seed),
    }
    # The event-only model's sentiment head never trained: only its event head is measured.
    heads = {"single": ("sentiment",), "events": ("event",), "two": ("sentiment", "event")}
    result = {name: measure(folder, data["tests"], heads[name]) for name, folder in models.items()}
    result["comparison"] = compare(result)
    return result | {"_folders": {k: str(v) for k, v in models.items()}}


def compare(result: dict[str, Any]) -> dict[str, Any]:
    """The two-head model against its baselines in the same run: sentiment differences (points of
    macro-F1, negative = lower) and the event macro-F1 ratio to the event-only model."""
    two, single, events = result["two"], result["single"], result["events"]
    out: dict[str, Any] = {}
    for test in ("fpb_test", "twitter_test"):
        if test in two and test in single:
            out[f"{test}_sentiment_macro_f1_change"] = round(
                two[test]["macro_f1"] - single[test]["macro_f1"], 4
            )
    if "event_test" in two and "event_test" in events:
        out["event_macro_f1_ratio_vs_event_only"] = round(
            two["event_test"]["macro_f1"] / max(events["event_test"]["macro_f1"], 1e-9), 4
        )
    out["sentiment_within_half_a_point"] = all(
        v >= -MAX_SENTIMENT_DROP for k, v in out.items() if k.endswith("_sentiment_macro_f1_change")
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bases", default="mpnet,minilm")
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument(
        "--distill", action="store_true", help="also distil a MiniLM student from the first base"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny subsets, 1 epoch: checks the code path on CPU"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    # transformers' weight-loading reports ("UNEXPECTED pooler.dense.weight": a replaced head) are noise.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if not (SHARED_DATA / "twitter_topic_train.csv").is_file():
        print(f"skipped: {SHARED_DATA} is not here (the labelled data is not part of the repository)")
        return 0
    if args.smoke:
        args.epochs, args.max_steps, args.bases = 1, 4, "minilm"
    out_path = args.out or RESULTS / ("events-smoke.json" if args.smoke else "events.json")
    n = 64 if args.smoke else None

    result: dict[str, Any] = {
        "benchmark": "events",
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "gpu": _gpu()},
        "smoke": args.smoke,
        "hyper_parameters": {k: getattr(args, k) for k in ("epochs", "lr", "batch_size", "patience")},
        "targets": {"event_macro_f1": TARGETS, "max_sentiment_macro_f1_drop": MAX_SENTIMENT_DROP},
        "runs": {},
    }
    work = Path(tempfile.mkdtemp(prefix="finsent-events-"))
    for seed in [int(s) for s in args.seeds.split(",")]:
        base_splits = splits(SHARED_DATA, seed)
        event_train, event_test = event_splits(SHARED_DATA, seed)
        sentiment_train = base_splits["fpb_train"] + base_splits.get("tw_train", [])
        data = {
            "sentiment_train": _subset(sentiment_train, n),
            "event_train": _subset(event_train, n),
            "tests": {
                "fpb_test": _subset(base_splits["fpb_test"], n),
                "twitter_test": _subset(base_splits.get("tw_test", []), n),
                "event_test": _subset(event_test, n),
            },
        }
        result["split"] = {"event_train": len(event_train), "event_test": len(event_test)}
        bases = args.bases.split(",")
        for base in bases:
            print(f"seed {seed}, base {base}", flush=True)
            run = run_base(base, seed, data, args, work)
            folders = run.pop("_folders")
            result["runs"][f"{base}-{seed}"] = run
            # The student is a MiniLM distilled from a larger teacher (a smoke run distils MiniLM's own).
            if args.distill and base == bases[0] and (base != "minilm" or args.smoke):
                result["runs"][f"student-{seed}"] = distill_student(
                    Path(folders["two"]), data, args, seed, work
                )
            save(out_path, result)
    print(f"-> {out_path}")
    return 0


def distill_student(
    teacher: Path, data: dict, args: argparse.Namespace, seed: int, work: Path
) -> dict[str, Any]:
    from finsent.training.config import TrainConfig
    from finsent.training.data import merge_heads
    from finsent.training.distill import distill

    cfg = TrainConfig(
        base="minilm",
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=seed,
        patience=args.patience,
        max_steps=args.max_steps,
        progress=not args.quiet,
        distill_temperature=2.0,
        distill_alpha=0.5,
    )
    out = work / f"student-{seed}"
    distill(teacher, merge_heads(list(data["sentiment_train"]), list(data["event_train"])), [], out, cfg)
    return measure(out, data["tests"])


def _gpu() -> str | None:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        return None


if __name__ == "__main__":
    sys.exit(main())
