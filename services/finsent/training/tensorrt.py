"""`finsent export --format tensorrt`: a TensorRT engine (fp16) from an exported ONNX version.

Needs an NVIDIA GPU and the `tensorrt` Python package (the official Triton/TensorRT containers
have both). Optimisation profile: batch 1..max_batch, sequence 8..max_length, optimum at 32 x 64.
The engine goes into the next version of `<repo>/<name>_trt/` as model.plan, with a manifest."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finsent.contracts import LABELS
from finsent.inference.model_repo import MANIFEST, Manifest, latest_version, version_dir, versions
from finsent.training.data import sha256


class TensorRTUnavailable(RuntimeError):
    pass


def _gpu_or_explain() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTUnavailable(
            "the TensorRT format needs an NVIDIA GPU and the `tensorrt` Python package; run this on a GPU "
            "host (e.g. inside nvcr.io/nvidia/tritonserver or nvcr.io/nvidia/tensorrt). On CPU, export "
            "--format onnx or onnx-int8 and serve with Triton's Python backend."
        ) from exc
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = True  # let TensorRT itself say so
    if not has_gpu:
        raise TensorRTUnavailable("no CUDA GPU is visible: TensorRT engines are built on the GPU they run on")
    return trt


def build_engine(
    model_dir: Path, repo: Path, name: str, *, max_length: int = 128, max_batch: int = 128
) -> dict:
    """`model_dir`: an exported ONNX version folder (or a trained folder, exported to ONNX first)."""
    trt = _gpu_or_explain()
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
        profile.set_shape(inp, (1, 8), (32, 64), (max_batch, max_length))
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT engine build failed (see the log above)")
    trt_name = f"{name}_trt"
    (repo / trt_name).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{trt_name}-", dir=repo))
    try:
        (staging / "model.plan").write_bytes(bytes(engine))
        shutil.copy2(model_dir / "tokenizer.json", staging / "tokenizer.json")
        taken = [int(p.name) for p in (repo / trt_name).iterdir() if p.name.isdigit()]
        version = max([*versions(repo, trt_name), *taken, 0]) + 1
        manifest = Manifest(
            name=trt_name,
            version=version,
            format="tensorrt",
            labels=[str(x) for x in LABELS],
            max_length=max_length,
            source=str(model_dir.resolve()),
            created_at=datetime.now(UTC).isoformat(),
            metrics=source.get("metrics", {}),
            files={p.name: sha256(p) for p in staging.iterdir()},
            checks={
                "precision": "fp16",
                "profile": {"batch": [1, 32, max_batch], "sequence": [8, 64, max_length]},
                "onnx_version": latest_version(repo, name),
            },
        )
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))
        staging.chmod(0o755)
        staging.rename(version_dir(repo, trt_name, version))
        return manifest.model_dump()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
