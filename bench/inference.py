"""CPU inference speed: texts per second of the student (MiniLM) and the teacher (MPNet), fp32 and
int8 ONNX, as FinSent's embedded backend runs them (ONNX Runtime, one lane per core, chunks of 32),
on real held-out tweets and headlines, in one run, each against the teacher's fp32 as baseline.

A trained folder (`--teacher build/teacher`, `--student build/student`, from `finsent build-model`)
is exported to fp32 and to whole-model dynamic int8 with per-channel weights (the first recipe the
build tries; the shipped student, measured as shipped, is the recipe that passed its gate). Where a
folder is missing, the same architecture is built from its base encoder with fresh heads and marked
`weights: "base (speed only)"`: speed does not depend on the weights' values, quality does, and
this benchmark measures speed only. The shipped int8 student is measured as shipped too.

    python -m bench.inference                                  # 3 interleaved rounds, 2,000 texts
    python -m bench.inference --teacher build/teacher --rounds 5

Results go to bench/results/inference.json."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "inference.json"
SHIPPED = ROOT / "services" / "finsent" / "shipped" / "finsent_sentiment"
MAX_LENGTH = 128
CHUNK = 32


def held_out_texts(data: Path, work: Path, n: int) -> list[str]:
    """`n` texts of the build's held-out tweets and news passages (shuffled, fixed seed)."""
    from finsent.training.build import BuildPlan, step_splits

    plan = BuildPlan(data, work / "build")
    step_splits(plan)
    texts = []
    for name in ("tw_test", "fe_test"):
        for line in (work / "build" / "splits" / f"{name}.jsonl").read_text().split("\n"):
            if line.strip():
                texts.append(json.loads(line)["text"])
    random.Random(0).shuffle(texts)
    return texts[:n]


def speed_only_folder(base: str, out: Path) -> Path:
    """A folder of `base`'s architecture with fresh heads, as `finsent train` writes one."""
    from transformers import AutoTokenizer

    from finsent.contracts.event_type import EVENT_TYPES
    from finsent.contracts.news import LABELS
    from finsent.training.bases import resolve_base
    from finsent.training.classifier import new_classifier

    path = resolve_base(base)
    model = new_classifier(path, "mean", {i: str(x) for i, x in enumerate(LABELS)}, list(EVENT_TYPES))
    model.save_pretrained(str(out), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(path)).save_pretrained(str(out))
    return out


def version_dir(onnx: Path, tokenizer: Path, out: Path) -> Path:
    """A model version folder the embedded backend loads: model.onnx, tokenizer.json, manifest."""
    out.mkdir(parents=True, exist_ok=True)
    if onnx.resolve() != (out / "model.onnx").resolve():
        shutil.copyfile(onnx, out / "model.onnx")
    shutil.copyfile(tokenizer, out / "tokenizer.json")
    import onnx

    outputs = {o.name for o in onnx.load(str(out / "model.onnx"), load_external_data=False).graph.output}
    manifest = json.loads((SHIPPED / "manifest.json").read_text())
    manifest["max_length"] = MAX_LENGTH
    if "event_logits" not in outputs:  # a sentiment-only model (the teacher)
        manifest["event_labels"] = None
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def exported(folder: Path, work: Path, name: str) -> dict[str, Path]:
    """fp32 and int8 version folders of a trained (or speed-only) folder."""
    from finsent.training.export import _export_fp32, _quantize

    fp32, int8 = work / f"{name}-fp32.onnx", work / f"{name}-int8.onnx"
    _export_fp32(folder, fp32, MAX_LENGTH)
    _quantize(fp32, int8)
    tok = folder / "tokenizer.json"
    return {
        "fp32": version_dir(fp32, tok, work / f"{name}-fp32"),
        "int8": version_dir(int8, tok, work / f"{name}-int8"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED)
    parser.add_argument("--teacher", type=Path, default=ROOT / "build" / "teacher")
    parser.add_argument("--student", type=Path, default=ROOT / "build" / "student")
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not (args.data / "twitter_fin_train.csv").is_file():
        print(f"bench.inference: {args.data} has no twitter_fin_train.csv", file=sys.stderr)
        return 2
    from finsent.inference.embedded import OnnxModel

    with tempfile.TemporaryDirectory(prefix="finsent-bench-inference-") as tmp:
        work = Path(tmp)
        texts = held_out_texts(args.data, work, args.texts)
        variants: dict[str, tuple[Path, str]] = {}
        for name, folder, base in (("teacher", args.teacher, "mpnet"), ("student", args.student, "minilm")):
            trained = (folder / "config.json").is_file()
            source = str(folder) if trained else "base (speed only)"
            if not trained:
                folder = speed_only_folder(base, work / f"{name}-folder")
            for fmt, path in exported(folder, work, name).items():
                variants[f"{name} {fmt}"] = (path, source)
        shipped = version_dir(SHIPPED / "model.onnx", SHIPPED / "tokenizer.json", work / "shipped")
        variants["student int8 (shipped)"] = (shipped, "shipped")
        models = {k: OnnxModel(p, max_length=MAX_LENGTH) for k, (p, _) in variants.items()}
        for m in models.values():
            m.heads(texts[:64], CHUNK)  # warm-up
        timings: dict[str, list[float]] = {k: [] for k in models}
        for r in range(args.rounds):  # interleaved: drift on the machine hits every variant alike
            for k, m in models.items():
                started = time.perf_counter()
                m.heads(texts, CHUNK)
                timings[k].append(len(texts) / (time.perf_counter() - started))
                print(f"round {r + 1}: {k:24s} {timings[k][-1]:8.1f} texts/s", flush=True)
    base = statistics.median(timings["teacher fp32"])
    rows: dict[str, Any] = {
        k: {
            "texts_per_s": round(statistics.median(v), 1),
            "rounds": [round(x, 1) for x in v],
            "vs_teacher_fp32": round(statistics.median(v) / base, 2),
            "weights": variants[k][1],
        }
        for k, v in timings.items()
    }
    result = {
        "benchmark": "inference",
        "generated_at": datetime.now(UTC).isoformat(),
        "texts": len(texts),
        "max_length": MAX_LENGTH,
        "chunk": CHUNK,
        "rounds": args.rounds,
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(rows, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
