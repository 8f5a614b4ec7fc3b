"""Training speed on this machine: seconds per 1,000 training examples, per base and precision.

One fine-tuning step as `finsent train` takes it (forward, backward, AdamW, clipping, the lr
schedule; batch 32 of length-grouped texts padded to their longest, max length 64, mean pooling
and the 3-way head), on real twitter-train texts when ../shared/data has them (else the bundled
feed's), with torch threads = the cores this process has. Each (base, precision) gets one warm-up
step and then `--steps` timed steps; the median step is reported, with bf16's ratio to fp32 in
the same run.

    python -m bench.training                       # minilm and mpnet, fp32 and bf16
    python -m bench.training --bases minilm --steps 10

Results go to bench/results/training.json."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "training.json"
BATCH = 32
MAX_LENGTH = 64


def texts(data: Path) -> tuple[list[str], str]:
    from finsent.training.data import load

    tweets = data / "twitter_fin_train.csv"
    if tweets.is_file():
        return [e.text for e in load([tweets])[0]], str(tweets.name)
    feed = ROOT / "services" / "finsent" / "demo" / "data" / "sample_feed.jsonl"
    rows = [json.loads(line) for line in feed.read_text().splitlines() if line.startswith("{")]
    return [r["text"] for r in rows if isinstance(r.get("text"), str) and r["text"].strip()], feed.name


def time_steps(base: str, precision: str, pool: list[str], steps: int) -> dict[str, Any]:
    import torch

    from finsent.training.bases import resolve_base
    from finsent.training.classifier import new_classifier
    from finsent.training.precision import autocast
    from finsent.training.train import _encode, parameter_groups

    folder = resolve_base(base)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = new_classifier(folder, "mean", {0: "negative", 1: "neutral", 2: "positive"}).train()
    optimizer = torch.optim.AdamW(parameter_groups(model, 3e-5, 0.01, 1.0))
    rng = random.Random(0)
    # Length-grouped batches, as training draws them: sort a sample by length, cut into batches.
    sample = sorted(rng.sample(pool, BATCH * (steps + 1)), key=len)
    batches = [sample[i : i + BATCH] for i in range(0, len(sample), BATCH)]
    rng.shuffle(batches)
    times, tokens = [], 0
    for k, batch in enumerate(batches):
        enc = _encode(tokenizer, batch, MAX_LENGTH)
        labels = torch.tensor([rng.randrange(3) for _ in batch])
        started = time.perf_counter()
        with autocast(precision, "cpu"):
            out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        loss = torch.nn.functional.cross_entropy(out.logits.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if k:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - started)
            tokens += int(enc["attention_mask"].sum())
    step = statistics.median(times)
    return {
        "base": base,
        "precision": precision,
        "steps_timed": len(times),
        "median_step_s": round(step, 4),
        "s_per_1000_examples": round(step / BATCH * 1000, 2),
        "mean_tokens_per_text": round(tokens / (len(times) * BATCH), 1),
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    from finsent.training.precision import cpu_has_bf16
    from finsent.training.train import available_cores

    parser = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bases", default="minilm,mpnet")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(available_cores())
    pool, source = texts(args.data)
    rows = []
    for base in args.bases.split(","):
        for precision in args.precisions.split(","):
            row = time_steps(base, precision, pool, args.steps)
            rows.append(row)
            print(json.dumps(row), flush=True)
    ratios = {}
    for base in args.bases.split(","):
        by = {r["precision"]: r["s_per_1000_examples"] for r in rows if r["base"] == base}
        if "fp32" in by and "bf16" in by:
            ratios[base] = round(by["bf16"] / by["fp32"], 3)
    result = {
        "benchmark": "training",
        "generated_at": datetime.now(UTC).isoformat(),
        "texts": source,
        "batch": BATCH,
        "max_length": MAX_LENGTH,
        "threads": torch.get_num_threads(),
        "cpu_has_bf16": cpu_has_bf16(),
        "torch": torch.__version__,
        "rows": rows,
        "bf16_over_fp32": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bf16 / fp32 time: {ratios}; written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
