"""int8 export recipes: whole-model dynamic int8 first, then the encoder (MatMuls and embedding
tables) with the heads in fp32, then the same with the first half of the layers fp32, then static
int8 of the weight MatMuls."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from finsent.demo.model import DEMO_TRAIN
from finsent.training.config import TrainConfig
from finsent.training.data import load
from support.tiny_models import tiny_bert_base

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory) -> Path:
    from finsent.training.export import _export_fp32
    from finsent.training.train import train

    root = tmp_path_factory.mktemp("int8")
    base = tiny_bert_base(root / "base")
    cfg = TrainConfig(base=str(base), epochs=1, max_steps=2, batch_size=8, max_length=32, progress=False)
    train(load([DEMO_TRAIN])[0][:40], root / "model", cfg)
    _export_fp32(root / "model", root / "model.fp32.onnx", 32)
    return root / "model.fp32.onnx"


def _quantised_initialisers(path: Path) -> set[str]:
    import onnx

    graph = onnx.load(str(path)).graph
    # Weights of MatMuls are quantised to int8, embedding tables (Gather) to uint8.
    quantised = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    return {i.name for i in graph.initializer if i.data_type in quantised}


def test_the_heads_stay_fp32_in_the_encoder_only_recipe(fp32_onnx, tmp_path):
    from finsent.training.export import _head_nodes, _quantize

    assert _head_nodes(fp32_onnx)  # the sentiment head's Gemm/MatMul is found
    whole = tmp_path / "whole.onnx"
    partial = tmp_path / "partial.onnx"
    _quantize(fp32_onnx, whole, "dynamic-per-channel")
    _quantize(fp32_onnx, partial, "encoder-int8-heads-fp32")
    whole_q, partial_q = _quantised_initialisers(whole), _quantised_initialisers(partial)
    assert any("classifier" in n for n in whole_q)
    assert partial_q and not any("classifier" in n for n in partial_q)
    # The embedding tables are int8 too: left fp32 they were most of the shipped file (59 MB, not 23).
    assert any("word_embeddings" in n for n in partial_q)
    assert partial.stat().st_size < 1.2 * whole.stat().st_size


def test_an_unknown_recipe_is_a_clear_error(fp32_onnx, tmp_path):
    from finsent.training.export import ExportError, _quantize

    with pytest.raises(ExportError, match="unknown int8 recipe"):
        _quantize(fp32_onnx, tmp_path / "x.onnx", "int4")


def test_static_int8_quantises_the_weight_matmuls_and_scores_a_text_the_same_in_any_batch(
    fp32_onnx, tmp_path
):
    """Static int8's activation ranges are fixed at calibration, so a text's logits do not move with
    the texts scored beside it, as dynamic int8's (each batch quantised with its own range) do."""
    import numpy as np

    from finsent.training.export import _Calibration, _onnx_logits, _quantize, _weight_matmuls

    tokenizer_json = fp32_onnx.parent / "model" / "tokenizer.json"
    texts = [e.text for e in load([DEMO_TRAIN])[0][:48]]
    static = tmp_path / "static.onnx"
    _quantize(fp32_onnx, static, "static-weight-matmuls", _Calibration(tokenizer_json, texts[:16], 32))
    quantised = _quantised_initialisers(static)
    assert _weight_matmuls(fp32_onnx) and quantised
    assert not any("classifier" in n for n in quantised)

    def alone_and_in_a_batch(path: Path) -> float:
        batch = _onnx_logits(path, tokenizer_json, texts, 32)[0]
        alone = np.concatenate([_onnx_logits(path, tokenizer_json, [t], 32)[0] for t in texts[:8]])
        return float(np.abs(batch[:8] - alone).max())

    dynamic = tmp_path / "dynamic.onnx"
    _quantize(fp32_onnx, dynamic, "dynamic-per-channel")
    assert alone_and_in_a_batch(static) < 1e-4
    moved = alone_and_in_a_batch(dynamic)
    print(f"dynamic int8: a text's logits move by up to {moved:.5f} with the batch it is in")
    assert moved > 1e-3  # what the static recipe removes


def test_static_int8_without_calibration_texts_is_a_clear_error(fp32_onnx, tmp_path):
    from finsent.training.export import ExportError, _quantize

    with pytest.raises(ExportError, match="calibration"):
        _quantize(fp32_onnx, tmp_path / "x.onnx", "static-weight-matmuls")


def _float_weight_matmuls(path: Path) -> set[str]:
    """Names of the MatMul nodes that still multiply by an fp32 weight."""
    import onnx

    graph = onnx.load(str(path)).graph
    floats = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    return {n.name for n in graph.node if n.op_type == "MatMul" and floats & set(n.input)}


def test_the_mixed_recipe_keeps_the_first_half_of_the_layers_fp32_and_quantises_the_rest(fp32_onnx, tmp_path):
    from finsent.training.export import _first_half_layer_matmuls, _quantize, _weight_matmuls

    kept = _first_half_layer_matmuls(fp32_onnx)
    # The tiny encoder has two layers: the first is kept (its Q, K, V, attention output, FFN in, out).
    assert kept and all("layer.0/" in n for n in kept)
    assert len(kept) == 6
    mixed = tmp_path / "mixed.onnx"
    _quantize(fp32_onnx, mixed, "first-half-layers-fp32")
    still_fp32 = _float_weight_matmuls(mixed)
    assert set(kept) <= still_fp32
    later = [n for n in _weight_matmuls(fp32_onnx) if "layer.1/" in n]
    assert later and not (set(later) & still_fp32)
    assert not any("classifier" in n for n in _quantised_initialisers(mixed))
