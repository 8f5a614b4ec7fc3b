"""GPU benchmark (issue #4): the TensorRT fp16 engine against PyTorch fp32/fp16 on the same GPU.

    python -m bench.gpu --model TRAINED_DIR [--out bench/results/gpu.json]

Steps, all in one run on the same machine:
1. export the trained model to fp32 ONNX (`finsent export --format onnx`);
2. build the TensorRT engine from it (`finsent export --format tensorrt`: fp16, profiles, and the
   engine-vs-ONNX logit check that gates the version);
3. throughput in sequences/s at batch 1, 32 and 128 for PyTorch fp32, PyTorch fp16 and the engine,
   on the bundled feed's texts padded per batch as the scorer pads them, and at batch 128 with
   every text truncated at 128 tokens (the worst case); ONNX Runtime on the CPU for scale.

Each stage that fails (no `tensorrt`, say) is recorded with its error and the rest still runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import REPO, RESULTS
from finsent.inference.tokenize import TextEncoder

FEED = REPO / "services/finsent/demo/data/sample_feed.jsonl"
NAME = "finsent_sentiment"


def feed_texts() -> list[str]:
    texts = []
    for line in FEED.read_text().splitlines():
        try:
            texts.append(json.loads(line)["text"])
        except (ValueError, KeyError, TypeError):
            continue  # the feed's deliberately malformed lines
    return texts


def batches(
    encoder: TextEncoder, texts: list[str], size: int, count: int, device: str
) -> list[tuple[Any, Any]]:
    """`count` consecutive batches of `size` texts, each padded to its own longest text."""
    import torch

    out = []
    for i in range(count):
        group = [texts[(i * size + j) % len(texts)] for j in range(size)]
        (chunk,) = encoder.chunks(group, size)
        out.append(
            (torch.from_numpy(chunk.input_ids).to(device), torch.from_numpy(chunk.attention_mask).to(device))
        )
    return out


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def throughput(fn: Callable[[Any, Any], Any], data: list[tuple[Any, Any]], min_s: float = 1.5) -> float:
    for ids, mask in data[:3]:
        fn(ids, mask)
    _sync()
    done, start, i = 0, time.perf_counter(), 0
    while True:
        ids, mask = data[i % len(data)]
        fn(ids, mask)
        done += ids.shape[0]
        i += 1
        if i % len(data) == 0:
            _sync()
            if time.perf_counter() - start >= min_s:
                break
    return done / (time.perf_counter() - start)


def stage(results: dict[str, Any], key: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    try:
        value = fn()
        results[key] = {"ok": True, "seconds": round(time.perf_counter() - t0, 2)}
        return value
    except Exception as exc:  # a benchmark records every failure and goes on
        results[key] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        traceback.print_exc()
        return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, type=Path, help="a folder written by `finsent train`")
    p.add_argument("--out", type=Path, default=RESULTS / "gpu.json")
    p.add_argument("--batches", default="1,32,128")
    p.add_argument("--device", default="cuda", help="cpu: a smoke run of this script (no TensorRT)")
    args = p.parse_args()

    import torch

    from finsent.inference.embedded import OnnxModel
    from finsent.inference.model_repo import version_dir
    from finsent.inference.tensorrt_engine import TrtEngine
    from finsent.training.classifier import load_classifier
    from finsent.training.export import export
    from finsent.training.tensorrt import build_engine

    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU visible: this benchmark runs on a GPU host (--device cpu for a smoke run)")
        return 2
    results: dict[str, Any] = {
        "machine": {
            "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "python": platform.python_version(),
            "cpu_count": __import__("os").cpu_count(),
        },
        "stages": {},
    }
    try:
        import tensorrt

        results["machine"]["tensorrt"] = tensorrt.__version__
    except ImportError:
        results["machine"]["tensorrt"] = None
    texts = feed_texts()
    repo = Path(tempfile.mkdtemp(prefix="finsent-gpu-bench-"))
    stages = results["stages"]

    manifest = stage(stages, "export_onnx_fp32", lambda: export(args.model, repo, NAME, fmt="onnx"))
    onnx_dir = version_dir(repo, NAME, manifest["version"]) if manifest else None
    trt_manifest = (
        stage(stages, "build_tensorrt", lambda: build_engine(onnx_dir, repo, NAME, check_texts=texts))
        if onnx_dir
        else None
    )
    if trt_manifest:
        results["tensorrt_vs_onnx_fp32"] = trt_manifest["checks"]["vs_onnx_fp32"]
        plan = (version_dir(repo, f"{NAME}_trt", trt_manifest["version"]) / "model.plan").read_bytes()
        engine = TrtEngine(plan)
        results["machine"]["engine_mib"] = round(len(plan) / 2**20, 1)

    model32 = load_classifier(args.model).to(device)
    model16 = load_classifier(args.model).half().to(device)
    runners: dict[str, Callable[[Any, Any], Any]] = {
        "torch_fp32": lambda i, m: model32(input_ids=i, attention_mask=m).logits,
        "torch_fp16": lambda i, m: model16(input_ids=i, attention_mask=m).logits,
    }
    if trt_manifest:
        runners["tensorrt_fp16"] = engine.run

    encoder = TextEncoder(args.model / "tokenizer.json", 128)
    cpu = OnnxModel(onnx_dir, max_length=128) if onnx_dir else None
    if cpu:
        reference = cpu.logits(texts, 128)
        with torch.inference_mode():
            for key in ("torch_fp32", "torch_fp16"):

                def on_device(chunk: Any, fn: Callable[[Any, Any], Any] = runners[key]) -> np.ndarray:
                    ids, mask = (
                        torch.from_numpy(a).to(device) for a in (chunk.input_ids, chunk.attention_mask)
                    )
                    return fn(ids, mask).float().cpu().numpy()

                got = encoder.map_chunks(texts, 128, on_device, reference.shape[1])
                results[f"{key}_vs_onnx_fp32"] = {
                    "max_abs_logit_diff": float(np.abs(got - reference).max()),
                    "argmax_agreement": float((got.argmax(1) == reference.argmax(1)).mean()),
                }

    long_texts = [" ".join(texts[i : i + 16]) for i in range(0, len(texts), 4)]
    cases = {f"batch_{b}": (texts, b) for b in map(int, args.batches.split(","))}
    cases["batch_128_len_128"] = (long_texts, 128)
    table: dict[str, dict[str, float]] = {}
    with torch.inference_mode():
        for case, (source, size) in cases.items():
            data = batches(encoder, source, size, max(4, 512 // size), device)
            row = table[case] = {"mean_tokens": float(np.mean([d[0].shape[1] for d in data]))}
            for key, fn in runners.items():
                row[f"{key}_seq_per_s"] = round(throughput(fn, data), 1)
            if cpu and size > 1:
                cpu_data = [(i.cpu().numpy(), m.cpu().numpy()) for i, m in data[:4]]
                t0 = time.perf_counter()
                for ids, mask in cpu_data:
                    cpu.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
                row["onnxruntime_cpu_seq_per_s"] = round(size * len(cpu_data) / (time.perf_counter() - t0), 1)
            base = row["torch_fp32_seq_per_s"]
            for key in ("torch_fp16", "tensorrt_fp16"):
                if f"{key}_seq_per_s" in row:
                    row[f"{key}_vs_torch_fp32"] = round(row[f"{key}_seq_per_s"] / base, 2)
            print(case, json.dumps(row), flush=True)
    results["throughput"] = table
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
