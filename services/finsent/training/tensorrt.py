"""`finsent export --format tensorrt`: a TensorRT engine (fp16) from an exported ONNX version.

Needs an NVIDIA GPU, `torch` with CUDA and the `tensorrt` Python package, version 10 or newer (the
official Triton/TensorRT containers have them). Optimisation profile: batch 1..max_batch, sequence
8..max_length, optimum at 32 x 64. Before the engine goes into the next version of
`<repo>/<name>_trt/` (model.plan and a manifest), its logits are checked against the fp32 ONNX
model it was built from; an engine outside the tolerance is not written."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from finsent.contracts.news import DEFAULT_MAX_LENGTH
from finsent.inference.model_repo import MANIFEST, publish_version, version_dir
from finsent.inference.tensorrt_engine import TensorRTUnavailable, TrtEngine, gpu_or_explain
from finsent.training.data import load
from finsent.training.train import EVAL_SPLIT_FILE

# fp16 against the fp32 ONNX model: BERT logits move by a few hundredths in fp16; a larger gap means
# a broken build (wrong profile, overflow), not rounding.
MAX_ABS_LOGIT_DIFF = 0.1
MIN_ARGMAX_AGREEMENT = 0.99
PROFILE_MIN_SEQUENCE = 8


class EngineCheckFailed(RuntimeError):
    pass


def check_engine(
    plan: bytes, onnx_dir: Path, texts: list[str], *, max_length: int, max_batch: int
) -> dict[str, Any]:
    """Engine vs the fp32 ONNX model on `texts`; raises EngineCheckFailed outside the tolerance."""
    from finsent.inference.embedded import OnnxModel

    onnx = OnnxModel(onnx_dir, max_length=max_length)
    # Both heads at once (sentiment logits, then event-type logits for a two-head model).
    reference = np.concatenate([h for h in onnx.heads(texts, max_batch) if h is not None], axis=1)
    got = TrtEngine(plan).logits(onnx.encoder, texts, max_batch)
    max_diff = float(np.abs(reference - got).max())
    agreement = float((reference.argmax(1) == got.argmax(1)).mean())
    checks = {
        "compared_on": len(texts),
        "max_abs_logit_diff": max_diff,
        "argmax_agreement": agreement,
        "tolerance": {"max_abs_logit_diff": MAX_ABS_LOGIT_DIFF, "argmax_agreement": MIN_ARGMAX_AGREEMENT},
    }
    if max_diff > MAX_ABS_LOGIT_DIFF or agreement < MIN_ARGMAX_AGREEMENT:
        raise EngineCheckFailed(f"the TensorRT engine disagrees with the fp32 ONNX model: {checks}")
    return checks


def _check_texts(source: dict[str, Any]) -> list[str]:
    """The evaluation split the model was trained with, when its folder is still there."""
    split = Path(source.get("source", "")) / EVAL_SPLIT_FILE
    if split.is_file():
        examples, _ = load([split])
        if examples:
            return [e.text for e in examples][:512]
    return [
        "Shares fell 5% after the profit warning.",
        "The company reported record quarterly revenue.",
        "The board will meet on Tuesday.",
        "Regulators opened an investigation into the bank's accounting.",
    ]


def build_engine(
    model_dir: Path,
    repo: Path,
    name: str,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_batch: int = 128,
    check_texts: list[str] | None = None,
) -> dict:
    """`model_dir`: an exported ONNX version folder (or a trained folder, exported to ONNX first)."""
    trt = gpu_or_explain()
    if not (model_dir / MANIFEST).is_file():
        from finsent.training.export import export

        onnx_version = export(model_dir, repo, name, fmt="onnx", max_length=max_length)["version"]
        model_dir = version_dir(repo, name, onnx_version)
    source = json.loads((model_dir / MANIFEST).read_text())
    if source["format"] != "onnx":
        raise TensorRTUnavailable(
            f"{model_dir} is {source['format']}; build TensorRT from an fp32 ONNX version"
        )
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse((model_dir / "model.onnx").read_bytes()):
        raise RuntimeError(
            "TensorRT could not parse the ONNX model: "
            + "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        )
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for inp in ("input_ids", "attention_mask"):
        profile.set_shape(
            inp, (1, PROFILE_MIN_SEQUENCE), (min(32, max_batch), min(64, max_length)), (max_batch, max_length)
        )
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT engine build failed (see the log above)")
    plan = bytes(engine)
    checks = check_engine(
        plan, model_dir, check_texts or _check_texts(source), max_length=max_length, max_batch=max_batch
    )
    trt_name = f"{name}_trt"
    (repo / trt_name).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{trt_name}-", dir=repo))
    try:
        (staging / "model.plan").write_bytes(plan)
        shutil.copy2(model_dir / "tokenizer.json", staging / "tokenizer.json")
        manifest = publish_version(
            repo,
            trt_name,
            staging,
            {
                "format": "tensorrt",
                "max_length": max_length,
                "pad_id": source.get("pad_id", 0),
                "source": str(model_dir.resolve()),
                "metrics": source.get("metrics", {}),
                "event_labels": source.get("event_labels"),
                "event_metrics": source.get("event_metrics", {}),
                "checks": {
                    "precision": "fp16",
                    "profile": {"batch": [1, max_batch], "sequence": [PROFILE_MIN_SEQUENCE, max_length]},
                    "onnx_version": source["version"],
                    "tensorrt_version": trt.__version__,
                    "vs_onnx_fp32": checks,
                },
            },
        )
        return manifest.model_dump()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
