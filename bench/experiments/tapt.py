"""Does further pre-training on in-domain text lift the FPB figures (issue #3)? A test of the
"domain pre-training" half of the explanation for the gap to FinBERT, at the scale we have.

Three bases, then recipe A (FPB train only, the defaults) fine-tuned on each with the same seeds:
  base   the packaged all-MiniLM-L6-v2, as it is (the baseline, in the same run);
  tapt   task-adaptive pre-training (Gururangan et al., 2020): masked-language-model training on
         the FPB training texts, without their labels (validation and test texts never seen);
  dapt   the same on the FPB training texts plus the twitter training texts (80% split).

all-MiniLM-L6-v2 ships without a masked-LM head, so a fresh one is trained first with the encoder
frozen (HEAD_STEPS), then everything together. Every setting is fixed here, before the run; test
figures are reported, never used to choose.

Meant for a GPU host. Run: `python -m bench.experiments.tapt [--data DIR] [--base DIR] [--seeds 6]`.
Results: bench/results/quality-tapt.json, written after every fine-tune.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import RESULTS
from bench.experiments.finetune import DEFAULTS, data_missing, run_one, training_arguments
from bench.pool import machine, spawn_pool
from bench.quality import splits as benchmark_splits

MLM = {"mask_probability": 0.15, "batch_size": 128, "lr": 5e-5, "head_lr": 1e-3, "warmup": 0.06}
HEAD_STEPS = 150
STEPS = {"tapt": 2800, "dapt": 2800}  # ~100 passes over FPB's training texts; ~30 with twitter's


def pretrain_texts(data: Path, kind: str) -> list[str]:
    from finsent.training.data import stratified_split

    splits = benchmark_splits(data, 42)
    fit, _val = stratified_split(list(splits["fpb_train"]), 0.1, 42)  # run_one's split
    texts = [e.text for e in fit]
    if kind == "dapt":
        texts += [e.text for e in splits.get("tw_train", [])]
    return texts


def pretrain(job: dict[str, Any]) -> dict[str, Any]:
    """Masked-LM training of the base on one kind of text; writes a base folder."""
    import random

    import torch
    from transformers import AutoTokenizer, BertForMaskedLM

    torch.manual_seed(42)
    rng = random.Random(42)
    base, out = Path(job["base"]), Path(job["out"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = BertForMaskedLM.from_pretrained(str(base)).to(device)
    texts = pretrain_texts(Path(job["data"]), job["kind"])
    steps, head_steps = job["steps"], job["head_steps"]
    encoder = [p for n, p in model.named_parameters() if n.startswith("bert.")]
    head = [p for n, p in model.named_parameters() if not n.startswith("bert.")]
    opt = torch.optim.AdamW(
        [{"params": encoder, "lr": MLM["lr"]}, {"params": head, "lr": MLM["head_lr"]}], weight_decay=0.01
    )
    warm = max(1, int(steps * MLM["warmup"]))

    def scale(step: int) -> float:
        s = max(0, step - head_steps)
        return min(1.0, (s + 1) / warm) * max(0.0, 0.5 * (1 + math.cos(math.pi * s / max(1, steps))))

    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), device=device)
    started, losses = time.perf_counter(), []
    model.train()
    for step in range(head_steps + steps):
        frozen = step < head_steps  # the fresh head learns first, so it does not wreck the encoder
        for p in encoder:
            p.requires_grad_(not frozen)
        opt.param_groups[0]["lr"] = 0.0 if frozen else MLM["lr"] * scale(step)
        opt.param_groups[1]["lr"] = MLM["head_lr"] if frozen else MLM["head_lr"] * scale(step)
        batch = rng.sample(texts, min(MLM["batch_size"], len(texts)))
        enc = tokenizer(batch, truncation=True, max_length=128, padding=True, return_tensors="pt").to(device)
        ids = enc["input_ids"].clone()
        labels = ids.clone()
        candidates = (enc["attention_mask"] == 1) & ~torch.isin(ids, special)
        chosen = candidates & (torch.rand(ids.shape, device=device) < MLM["mask_probability"])
        labels[~chosen] = -100
        roll = torch.rand(ids.shape, device=device)
        ids[chosen & (roll < 0.8)] = tokenizer.mask_token_id
        swap = chosen & (roll >= 0.8) & (roll < 0.9)
        ids[swap] = torch.randint(len(tokenizer), ids.shape, device=device)[swap]
        loss = model(input_ids=ids, attention_mask=enc["attention_mask"], labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    out.mkdir(parents=True, exist_ok=True)
    model.bert.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return {
        "kind": job["kind"],
        "texts": len(texts),
        "head_steps": head_steps,
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 1),
        "mlm_loss_first_100": round(statistics.mean(losses[:100]), 3),
        "mlm_loss_last_100": round(statistics.mean(losses[-100:]), 3),
    }


def summary(runs: list[dict[str, Any]], base: str) -> dict[str, Any]:
    mine = [r for r in runs if r["base_kind"] == base]
    if not mine:
        return {}
    acc = [r["fpb_test"]["accuracy"] for r in mine]
    f1 = [r["fpb_test"]["macro_f1"] for r in mine]
    val = [r["validation"]["macro_f1"] for r in mine]
    return {
        "runs": len(mine),
        "fpb_test_accuracy_mean": round(statistics.mean(acc), 4),
        "fpb_test_accuracy_range": [min(acc), max(acc)],
        "fpb_test_macro_f1_mean": round(statistics.mean(f1), 4),
        "fpb_test_macro_f1_range": [min(f1), max(f1)],
        "validation_macro_f1_mean": round(statistics.mean(val), 4),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    training_arguments(p)
    p.add_argument("--seeds", type=int, default=6, help="fine-tuning seeds per base, from 42 up")
    p.add_argument("--workers", type=int, default=18)
    p.add_argument("--out", type=Path, default=RESULTS / "quality-tapt.json")
    args = p.parse_args()
    if data_missing(args.data):
        return 0
    from finsent.training.bases import resolve_base

    started = time.monotonic()
    base = resolve_base(args.base)
    work = Path(tempfile.mkdtemp(prefix="finsent-tapt-"))
    kinds = ["tapt"] + (["dapt"] if (args.data / "twitter_fin_train.csv").is_file() else [])
    result: dict[str, Any] = {
        "benchmark": "quality-tapt",
        "when": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "fine_tune": {"recipe": "A", "config": DEFAULTS, "epochs": args.epochs, "patience": args.patience},
        "mlm": {**MLM, "head_steps": HEAD_STEPS, "steps": STEPS},
        "pretraining": [],
        "runs": [],
    }

    def save() -> None:
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        result["summary"] = {k: summary(result["runs"], k) for k in ["base", *kinds]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")

    smoke = {"steps": 2, "head_steps": 1} if args.smoke else {}
    pool = spawn_pool(args.workers)
    try:
        job = {"data": str(args.data), "epochs": args.epochs, "patience": args.patience, "smoke": args.smoke}
        job.update(recipe="A", config=DEFAULTS, threads=1)
        bases = {"base": base}
        pending = {}
        # The baseline's fine-tunes start at once; the others once their base is pre-trained.
        for seed in range(42, 42 + args.seeds):
            pending[pool.submit(run_one, {**job, "base": str(base), "seed": seed})] = ("base", seed)
        for kind in kinds:
            folder = work / kind
            spec = {"base": str(base), "out": str(folder), "data": str(args.data), "kind": kind}
            spec.update({"steps": STEPS[kind], "head_steps": HEAD_STEPS} | smoke)
            pending[pool.submit(pretrain, spec)] = (f"pretrain:{kind}", folder)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                what, extra = pending.pop(f)
                r = f.result()
                if what.startswith("pretrain:"):
                    kind = what.split(":", 1)[1]
                    result["pretraining"].append(r)
                    print(f"[{time.monotonic() - started:5.0f}s] pre-trained {kind}: {r}", flush=True)
                    bases[kind] = extra
                    for seed in range(42, 42 + args.seeds):
                        pending[pool.submit(run_one, {**job, "base": str(extra), "seed": seed})] = (
                            kind,
                            seed,
                        )
                    continue
                r["base_kind"] = what
                result["runs"].append(r)
                print(
                    f"[{time.monotonic() - started:5.0f}s] {what} seed {r['seed']}: val F1 "
                    f"{r['validation']['macro_f1']:.4f}; FPB test acc {r['fpb_test']['accuracy']:.4f} "
                    f"F1 {r['fpb_test']['macro_f1']:.4f} (best epoch {r['best_epoch']})",
                    flush=True,
                )
                save()
    finally:
        save()
        pool.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result["summary"], indent=1))
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
