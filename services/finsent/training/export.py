"""Export a trained model folder into the next numbered version of the model repository.

fp32 ONNX is checked against PyTorch logits; int8 (dynamic quantisation, per-channel) is checked
against fp32 on the evaluation split and is chosen by `--format auto` only when it keeps quality.
A model with an event-type head gets a second output, `event_logits`, checked the same way: int8
must keep both heads' quality.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finsent.contracts.news import DEFAULT_MAX_LENGTH, LABELS
from finsent.inference.model_repo import MANIFEST, Manifest, publish_version
from finsent.inference.tokenize import TextEncoder
from finsent.training.data import UNLABELLED, load
from finsent.training.scoring_metrics import classification_report
from finsent.training.train import EVAL_SPLIT_FILE, EVENT_EVAL_SPLIT_FILE, METADATA_FILE, predict_heads

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

    from finsent.training.classifier import event_labels_of, load_classifier

    model = load_classifier(model_dir)
    two_heads = event_labels_of(model) is not None

    class Logits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask)
            return (out.logits, out.event_logits) if two_heads else out.logits

    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    # The tracer warns about data-dependent branches in transformers' masking code and about how
    # advanced indexing is lowered; the exported graph is checked against PyTorch's logits right
    # after (_check_fp32), so these go to DEBUG rather than a user's console.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _onnx_export(torch, Logits(model), ids, mask, onnx_path, two_heads)
    for w in caught:
        log.debug("torch.onnx.export: %s: %s", w.category.__name__, w.message)


def _onnx_export(torch: Any, module: Any, ids: Any, mask: Any, onnx_path: Path, two_heads: bool) -> None:
    outputs = ["logits", "event_logits"] if two_heads else ["logits"]
    torch.onnx.export(
        module,
        (ids, mask),
        str(onnx_path),
        input_names=["input_ids", "attention_mask"],
        output_names=outputs,
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            **{name: {0: "batch"} for name in outputs},
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


# Tried in order until one keeps quality: every MatMul/Gemm (and the embeddings' Gather) dynamic
# int8 with per-channel weights; then the encoder's MatMuls and embedding tables only, with the
# classifier heads (and everything else) left fp32. The heads are a sliver of the compute but decide
# the argmax, so keeping them exact is the first thing that recovers agreement when whole-model int8
# loses it. The embeddings are quantised too: left fp32 they are two thirds of the file (59 MB
# against 23), for no agreement measured (the MiniLM's vocabulary table alone is 47 MB in fp32).
# Then the same with the first half of the encoder layers' weight MatMuls kept fp32: measured on
# the shipped student (bench/experiments/int8_mixed.py, bench/README.md), int8's error is spread over
# every layer but largest in the first ones, no single layer kept fp32 reaches the gate, and the
# first three of MiniLM's six do (agreement 0.993 / 0.992, 39 MB, 1.4x fp32's speed).
# Last, static int8: activation ranges calibrated once on the comparison texts (every fourth, at
# most 512) instead of measured per batch, for the encoder's weight MatMuls (QDQ, per-channel
# weights; the attention products, LayerNorm, softmax and the heads stay fp32). Its scores are the
# same whatever else is in a text's batch, which dynamic int8's are not (each batch is quantised
# with its own range).
INT8_RECIPES = (
    "dynamic-per-channel",
    "encoder-int8-heads-fp32",
    "first-half-layers-fp32",
    "static-weight-matmuls",
)
STATIC_CALIBRATION_TEXTS = 512


def _graph(fp32: Path) -> Any:
    import onnx

    return onnx.load(str(fp32), load_external_data=False).graph


def _head_nodes(fp32: Path, graph: Any = None) -> list[str]:
    """Names of the graph nodes that read a classifier head's weights, as the quantiser names them:
    onnxruntime splits each Gemm into `<name>_MatMul` and `<name>_Add` before quantising, so both
    the original name and the MatMul's are given. `graph`: the model's, when already loaded."""
    graph = _graph(fp32) if graph is None else graph
    heads = {i.name for i in graph.initializer if "classifier" in i.name}
    nodes = [n for n in graph.node if heads & set(n.input)]
    return [name for n in nodes for name in (n.name, f"{n.name}_MatMul")]


def _weight_matmuls(fp32: Path, graph: Any = None) -> list[str]:
    """The encoder's MatMul nodes that multiply by a weight (an initializer), heads excluded: the
    linear layers, not the attention products of two activations. `graph`: as in _head_nodes."""
    graph = _graph(fp32) if graph is None else graph
    weights = {i.name for i in graph.initializer}
    heads = set(_head_nodes(fp32, graph))
    return [
        n.name for n in graph.node if n.op_type == "MatMul" and weights & set(n.input) and n.name not in heads
    ]


def _first_half_layer_matmuls(fp32: Path, graph: Any = None) -> list[str]:
    """The weight MatMuls of the encoder's first half of layers (`layer.0` .. `layer.{n/2 - 1}` in
    the exported node names; n rounded up, so a 1-layer encoder keeps its one layer)."""
    matmuls = _weight_matmuls(fp32, graph)
    layer_of = {n: int(m.group(1)) for n in matmuls if (m := re.search(r"layer\.(\d+)/", n))}
    if not layer_of:
        raise ExportError(f"no encoder layers found in {fp32.name}'s node names")
    kept = (max(layer_of.values()) + 2) // 2
    return [n for n, layer in layer_of.items() if layer < kept]


class _Calibration:
    """Batches of tokenised texts for onnxruntime's static calibration (a CalibrationDataReader)."""

    def __init__(self, tokenizer_json: Path, texts: list[str], max_length: int) -> None:
        from finsent.inference.tokenize import TextEncoder

        chunks = TextEncoder(tokenizer_json, max_length).chunks(texts, 32)
        self._feeds = iter([{"input_ids": c.input_ids, "attention_mask": c.attention_mask} for c in chunks])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # part of the reader protocol; one pass is all MinMax needs
        pass


def _quantize_static(fp32: Path, int8: Path, calibration: _Calibration) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(fp32),
        str(int8),
        calibration,
        quant_format=QuantFormat.QDQ,
        nodes_to_quantize=_weight_matmuls(fp32),
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )


def _quantize(
    fp32: Path, int8: Path, recipe: str = INT8_RECIPES[0], calibration: _Calibration | None = None
) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if recipe == "static-weight-matmuls":
        if calibration is None:
            raise ExportError("static int8 needs calibration texts")
        _quantize_static(fp32, int8, calibration)
        return
    options: dict[str, Any] = {}
    if recipe in ("encoder-int8-heads-fp32", "first-half-layers-fp32"):
        graph = _graph(fp32)  # read once for both lists of nodes kept fp32
        kept_fp32 = _head_nodes(fp32, graph)
        if recipe == "first-half-layers-fp32":
            kept_fp32 += _first_half_layer_matmuls(fp32, graph)
        options = {"op_types_to_quantize": ["MatMul", "Gather"], "nodes_to_exclude": kept_fp32}
    elif recipe != "dynamic-per-channel":
        raise ExportError(f"unknown int8 recipe {recipe!r}; expected one of {', '.join(INT8_RECIPES)}")
    advice = _QuantiserAdvice()
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True, **options)
    finally:
        logging.getLogger().removeFilter(advice)


def _onnx_logits(
    onnx_path: Path,
    tokenizer_json: Path,
    texts: list[str],
    max_length: int,
    event_labels: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(sentiment logits, event-type logits or None) of an ONNX file, as the embedded backend runs it."""
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
                event_labels=event_labels,
            ).model_dump_json()
        )
        return OnnxModel(folder, max_length=max_length).heads(texts, 64)


@dataclass
class ComparisonSet:
    """Texts to check an export on, with each head's labels where known (UNLABELLED elsewhere)."""

    texts: list[str]
    sentiment: np.ndarray
    event: np.ndarray

    def labelled(self, head: str) -> np.ndarray:
        """Indices of the texts labelled for `head`."""
        y = self.sentiment if head == "sentiment" else self.event
        return np.flatnonzero(y != UNLABELLED)


def _comparison_set(
    model_dir: Path, eval_data: list[Path] | None, event_eval_data: list[Path] | None = None
) -> ComparisonSet:
    """Texts (and labels, when known) to check the export on: --eval files, else the evaluation split
    that `finsent train` saved, else two plain sentences (agreement only, no F1); the same for the
    event head (--event-eval, else the saved event split)."""
    if eval_data:
        examples, _ = load(eval_data)
    elif (model_dir / EVAL_SPLIT_FILE).is_file():
        examples, _ = load([model_dir / EVAL_SPLIT_FILE])
    else:
        examples = []
    if event_eval_data:
        examples += load(event_eval_data, head="event")[0]
    elif (model_dir / EVENT_EVAL_SPLIT_FILE).is_file():
        examples += load([model_dir / EVENT_EVAL_SPLIT_FILE], head="event")[0]
    if not examples:
        texts = ["Shares fell 5% after the profit warning.", "The company reported record quarterly revenue."]
        none = np.full(len(texts), UNLABELLED)
        return ComparisonSet(texts, none, none)
    return ComparisonSet(
        [e.text for e in examples],
        np.array([e.label for e in examples]),
        np.array([e.event for e in examples]),
    )


def _check_fp32(
    model_dir: Path,
    tokenizer: Any,
    staging: Path,
    texts: list[str],
    max_length: int,
    event_labels: list[str] | None,
) -> dict:
    """ONNX fp32 must give PyTorch's logits (to ONNX_TOLERANCE), on every head; an export that does
    not is refused."""
    from finsent.training.classifier import load_classifier

    ref = predict_heads(load_classifier(model_dir), tokenizer, texts[:256], max_length)
    got = _onnx_logits(
        staging / "model.fp32.onnx", staging / "tokenizer.json", texts[:256], max_length, event_labels
    )
    max_diff = max(float(np.abs(r - g).max()) for r, g in zip(ref, got, strict=True) if r is not None)
    if max_diff > ONNX_TOLERANCE:
        raise ExportError(f"ONNX fp32 logits differ from PyTorch by {max_diff:.2e} (> {ONNX_TOLERANCE})")
    return {"onnx_vs_torch_max_abs_logit_diff": max_diff, "tolerance": ONNX_TOLERANCE}


def _head_costs(
    head: str, fp32: np.ndarray, int8: np.ndarray, y_true: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    """What int8 costs one head: argmax agreement on every text, the macro-F1 drop where labelled."""
    prefix = "" if head == "sentiment" else "event_"
    checks: dict[str, Any] = {
        f"{prefix}int8_argmax_agreement": float((fp32.argmax(1) == int8.argmax(1)).mean())
    }
    labelled = np.flatnonzero(y_true != UNLABELLED)
    if len(labelled):
        f1_fp32 = classification_report(y_true[labelled], fp32[labelled].argmax(1), labels)["macro_f1"]
        f1_int8 = classification_report(y_true[labelled], int8[labelled].argmax(1), labels)["macro_f1"]
        checks.update(
            {
                f"{prefix}fp32_macro_f1": f1_fp32,
                f"{prefix}int8_macro_f1": f1_int8,
                f"{prefix}int8_f1_drop": f1_fp32 - f1_int8,
            }
        )
    checks[f"{prefix}int8_keeps_quality"] = checks[
        f"{prefix}int8_argmax_agreement"
    ] >= INT8_MIN_AGREEMENT and (not len(labelled) or checks[f"{prefix}int8_f1_drop"] <= INT8_MAX_F1_DROP)
    return checks


def _check_int8(
    staging: Path, comparison: ComparisonSet, max_length: int, event_labels: list[str] | None
) -> dict[str, Any]:
    """Quantise, and measure what int8 costs against fp32 on each head, recipe by recipe
    (INT8_RECIPES) until one keeps quality. `int8_keeps_quality` is the gate: every head must keep
    its quality; `int8_recipe` says which recipe the int8 file is, `int8_tried` what each cost."""
    tokenizer_json = staging / "tokenizer.json"
    texts = comparison.texts
    fp32, fp32_events = _onnx_logits(
        staging / "model.fp32.onnx", tokenizer_json, texts, max_length, event_labels
    )
    tried: dict[str, dict[str, Any]] = {}
    checks: dict[str, Any] = {}

    def calibration(recipe: str) -> _Calibration | None:
        # Only the static recipe reads calibration batches: the dynamic ones need no tokenising.
        if recipe != "static-weight-matmuls":
            return None
        return _Calibration(tokenizer_json, texts[::4][:STATIC_CALIBRATION_TEXTS], max_length)

    for recipe in INT8_RECIPES:
        _quantize(staging / "model.fp32.onnx", staging / "model.int8.onnx", recipe, calibration(recipe))
        int8, int8_events = _onnx_logits(
            staging / "model.int8.onnx", tokenizer_json, texts, max_length, event_labels
        )
        checks = {"int8_compared_on": len(texts), "int8_recipe": recipe}
        checks.update(_head_costs("sentiment", fp32, int8, comparison.sentiment, [str(x) for x in LABELS]))
        if event_labels and fp32_events is not None and int8_events is not None:
            checks.update(_head_costs("event", fp32_events, int8_events, comparison.event, event_labels))
            checks["int8_keeps_quality"] = checks["int8_keeps_quality"] and checks["event_int8_keeps_quality"]
        tried[recipe] = {k: v for k, v in checks.items() if k != "int8_recipe"}
        if checks["int8_keeps_quality"]:
            break
    else:
        # None kept quality: leave the recipe that agreed best with fp32 (an explicit onnx-int8
        # export ships it, with these figures in its manifest).
        def agreement(r: str) -> float:
            return min(v for k, v in tried[r].items() if k.endswith("int8_argmax_agreement"))

        best = max(tried, key=agreement)
        if best != INT8_RECIPES[-1]:
            _quantize(staging / "model.fp32.onnx", staging / "model.int8.onnx", best, calibration(best))
        checks = {"int8_recipe": best, **tried[best]}
    checks["int8_tried"] = tried
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
    event_eval_data: list[Path] | None = None,
) -> dict[str, Any]:
    """Build the version aside, check it, then move it in with one rename. Returns the manifest."""
    if fmt not in FORMATS:
        raise ExportError(
            f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)} (tensorrt: see README)"
        )
    if not (model_dir / "config.json").is_file():
        raise ExportError(f"{model_dir} is not a trained model folder (no config.json)")
    from transformers import AutoTokenizer

    from finsent.training.classifier import EVENT_LABELS_KEY

    event_labels = json.loads((model_dir / "config.json").read_text()).get(EVENT_LABELS_KEY) or None
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if not getattr(tokenizer, "is_fast", False):
        raise ExportError(f"{model_dir}: a fast tokenizer (tokenizer.json) is required")
    repo.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-export-", dir=repo))
    staging.chmod(0o755)  # mkdtemp makes it private; Triton may run as another user
    try:
        tokenizer.save_pretrained(str(staging))
        _export_fp32(model_dir, staging / "model.fp32.onnx", max_length)
        comparison = _comparison_set(model_dir, eval_data, event_eval_data)
        checks = _check_fp32(model_dir, tokenizer, staging, comparison.texts, max_length, event_labels)
        if fmt in ("auto", "onnx-int8"):
            checks.update(_check_int8(staging, comparison, max_length, event_labels))
        chosen = _choose_format(fmt, checks, labelled=bool(len(comparison.labelled("sentiment"))))
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
                "event_labels": event_labels,
                "event_metrics": training.get("event_metrics", {}),
                "checks": checks,
                "training": {
                    k: training.get(k) for k in ("base", "data", "config", "duration_s", "best_epoch")
                },
            },
        )
        return manifest.model_dump()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
