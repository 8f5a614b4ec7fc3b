"""Export a trained model folder into the next numbered version of the model repository.

fp32 ONNX is checked against PyTorch logits; int8 (dynamic quantisation, per-channel) is checked
against fp32 on the evaluation split and is chosen by `--format auto` only when it keeps quality.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from finsent.contracts.news import DEFAULT_MAX_LENGTH, LABELS
from finsent.inference.model_repo import MANIFEST, Manifest, publish_version
from finsent.inference.tokenize import TextEncoder
from finsent.training.data import load
from finsent.training.scoring_metrics import classification_report
from finsent.training.train import EVAL_SPLIT_FILE, METADATA_FILE, predict_torch

log = logging.getLogger(__name__)

ONNX_TOLERANCE = 1e-3  # max |logit difference| between ONNX fp32 and PyTorch
INT8_MIN_AGREEMENT = 0.99
INT8_MAX_F1_DROP = 0.005
FORMATS = ("auto", "onnx", "onnx-int8")
# The Triton Python-backend model that serves an exported version on CPU (copied into each version).
TRITON_MODEL_PY = Path(__file__).resolve().parents[1] / "triton" / "python_model.py"


class ExportError(RuntimeError):
    pass


def _export_fp32(model_dir: Path, onnx_path: Path, max_length: int) -> None:
    import torch

    from finsent.training.classifier import load_classifier

    model = load_classifier(model_dir)

    class Logits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    # The tracer warns about data-dependent branches in transformers' masking code and about how
    # advanced indexing is lowered; the exported graph is checked against PyTorch's logits right
    # after (_check_fp32), so these go to DEBUG rather than a user's console.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _onnx_export(torch, Logits(model), ids, mask, onnx_path)
    for w in caught:
        log.debug("torch.onnx.export: %s: %s", w.category.__name__, w.message)


def _onnx_export(torch: Any, module: Any, ids: Any, mask: Any, onnx_path: Path) -> None:
    torch.onnx.export(
        module,
        (ids, mask),
        str(onnx_path),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "logits": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )


class _QuantiserAdvice(logging.Filter):
    """onnxruntime's quantiser advises, on the root logger at WARNING, to pre-process the model
    first (shape inference for static quantisation); for dynamic quantisation of a freshly exported
    graph it changes nothing, so FinSent keeps it at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Please consider to run pre-processing before quantization"):
            log.debug("onnxruntime: %s", record.getMessage())
            return False
        return True


def _quantize(fp32: Path, int8: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    advice = _QuantiserAdvice()
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.getLogger().removeFilter(advice)


def _onnx_logits(onnx_path: Path, tokenizer_json: Path, texts: list[str], max_length: int) -> np.ndarray:
    from finsent.inference.embedded import OnnxModel

    # OnnxModel reads a manifest; give it a throwaway one next to a copy-free symlink folder.
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.symlink(onnx_path.resolve(), folder / "model.onnx")
        os.symlink(tokenizer_json.resolve(), folder / "tokenizer.json")
        (folder / MANIFEST).write_text(
            Manifest(
                name="check",
                version=0,
                format="onnx",
                labels=[str(x) for x in LABELS],
                max_length=max_length,
                source="",
                created_at="",
            ).model_dump_json()
        )
        return OnnxModel(folder, max_length=max_length).logits(texts, 64)


def _comparison_set(model_dir: Path, eval_data: list[Path] | None) -> tuple[list[str], np.ndarray]:
    """Texts (and labels, when known) to check the export on: --eval files, else the evaluation split
    that `finsent train` saved, else two plain sentences (agreement only, no F1)."""
    if eval_data:
        examples, _ = load(eval_data)
    elif (model_dir / EVAL_SPLIT_FILE).is_file():
        examples, _ = load([model_dir / EVAL_SPLIT_FILE])
    else:
        examples = []
    texts = [e.text for e in examples] or [
        "Shares fell 5% after the profit warning.",
        "The company reported record quarterly revenue.",
    ]
    return texts, np.array([e.label for e in examples])


def _check_fp32(model_dir: Path, tokenizer: Any, staging: Path, texts: list[str], max_length: int) -> dict:
    """ONNX fp32 must give PyTorch's logits (to ONNX_TOLERANCE); an export that does not is refused."""
    from finsent.training.classifier import load_classifier

    ref = predict_torch(load_classifier(model_dir), tokenizer, texts[:256], max_length)
    got = _onnx_logits(staging / "model.fp32.onnx", staging / "tokenizer.json", texts[:256], max_length)
    max_diff = float(np.abs(ref - got).max())
    if max_diff > ONNX_TOLERANCE:
        raise ExportError(f"ONNX fp32 logits differ from PyTorch by {max_diff:.2e} (> {ONNX_TOLERANCE})")
    return {"onnx_vs_torch_max_abs_logit_diff": max_diff, "tolerance": ONNX_TOLERANCE}


def _check_int8(staging: Path, texts: list[str], y_true: np.ndarray, max_length: int) -> dict[str, Any]:
    """Quantise, and measure what int8 costs against fp32: argmax agreement on every text, and the
    macro-F1 drop where labels are known. `int8_keeps_quality` is the gate."""
    _quantize(staging / "model.fp32.onnx", staging / "model.int8.onnx")
    tokenizer_json = staging / "tokenizer.json"
    fp32_logits = _onnx_logits(staging / "model.fp32.onnx", tokenizer_json, texts, max_length)
    int8_logits = _onnx_logits(staging / "model.int8.onnx", tokenizer_json, texts, max_length)
    agreement = float((fp32_logits.argmax(1) == int8_logits.argmax(1)).mean())
    checks: dict[str, Any] = {"int8_argmax_agreement": agreement, "int8_compared_on": len(texts)}
    if len(y_true):
        f1_fp32 = classification_report(y_true, fp32_logits.argmax(1))["macro_f1"]
        f1_int8 = classification_report(y_true, int8_logits.argmax(1))["macro_f1"]
        checks.update(fp32_macro_f1=f1_fp32, int8_macro_f1=f1_int8, int8_f1_drop=f1_fp32 - f1_int8)
    checks["int8_keeps_quality"] = agreement >= INT8_MIN_AGREEMENT and (
        not len(y_true) or checks["int8_f1_drop"] <= INT8_MAX_F1_DROP
    )
    return checks


def _choose_format(fmt: str, checks: dict[str, Any], labelled: bool) -> str:
    """`auto` takes int8 only when it was measured against labels and kept quality; an explicit
    `onnx-int8` is honoured, with a warning when it loses quality."""
    keeps_quality = checks.get("int8_keeps_quality", False)
    if fmt == "onnx-int8" and not keeps_quality:
        log.warning("int8 was asked for but loses quality: %s", checks)
    if fmt == "onnx-int8" or (fmt == "auto" and keeps_quality and labelled):
        return "onnx-int8"
    return "onnx"


def _keep_only(staging: Path, chosen: str) -> None:
    """The chosen file becomes model.onnx; the other candidates go; the Triton model comes in."""
    final = staging / ("model.int8.onnx" if chosen == "onnx-int8" else "model.fp32.onnx")
    final.rename(staging / "model.onnx")
    for leftover in staging.glob("model.*.onnx"):
        leftover.unlink()
    if TRITON_MODEL_PY.is_file():
        shutil.copy2(TRITON_MODEL_PY, staging / "model.py")


def export(
    model_dir: Path,
    repo: Path,
    name: str,
    *,
    fmt: str = "auto",
    max_length: int = DEFAULT_MAX_LENGTH,
    eval_data: list[Path] | None = None,
) -> dict[str, Any]:
    """Build the version aside, check it, then move it in with one rename. Returns the manifest."""
    if fmt not in FORMATS:
        raise ExportError(
            f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)} (tensorrt: see README)"
        )
    if not (model_dir / "config.json").is_file():
        raise ExportError(f"{model_dir} is not a trained model folder (no config.json)")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if not getattr(tokenizer, "is_fast", False):
        raise ExportError(f"{model_dir}: a fast tokenizer (tokenizer.json) is required")
    repo.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-export-", dir=repo))
    staging.chmod(0o755)  # mkdtemp makes it private; Triton may run as another user
    try:
        tokenizer.save_pretrained(str(staging))
        _export_fp32(model_dir, staging / "model.fp32.onnx", max_length)
        texts, y_true = _comparison_set(model_dir, eval_data)
        checks = _check_fp32(model_dir, tokenizer, staging, texts, max_length)
        if fmt in ("auto", "onnx-int8"):
            checks.update(_check_int8(staging, texts, y_true, max_length))
        chosen = _choose_format(fmt, checks, labelled=bool(len(y_true)))
        _keep_only(staging, chosen)
        training = {}
        if (model_dir / METADATA_FILE).is_file():
            training = json.loads((model_dir / METADATA_FILE).read_text())
        manifest = publish_version(
            repo,
            name,
            staging,
            {
                "format": chosen,
                "max_length": max_length,
                "pad_id": TextEncoder(staging / "tokenizer.json", max_length).pad_id,
                "source": str(model_dir.resolve()),
                "metrics": training.get("metrics", {}),
                "checks": checks,
                "training": {
                    k: training.get(k) for k in ("base", "data", "config", "duration_s", "best_epoch")
                },
            },
        )
        return manifest.model_dump()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
