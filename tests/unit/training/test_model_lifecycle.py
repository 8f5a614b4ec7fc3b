"""train -> evaluate -> export -> load -> score, end to end on tiny data; data errors; hot swap."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from finsent.demo.model import DEMO_TRAIN
from finsent.inference.embedded import EmbeddedBackend, OnnxModel
from finsent.inference.model_repo import read_manifest, versions
from finsent.training.data import DataError, load

pytestmark = pytest.mark.slow


def finsent(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "finsent.cli", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    rows = DEMO_TRAIN.read_text().splitlines()
    (root / "tiny.csv").write_text("\n".join(rows[:61]) + "\n")
    out = root / "model"
    r = finsent(
        "train",
        "--data",
        str(root / "tiny.csv"),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--layer-decay",
        "0.9",
        "--label-smoothing",
        "0.1",
        "--device",
        "cpu",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "best epoch 1" in r.stdout
    return out


def test_train_writes_model_and_metadata(tiny_model):
    meta = json.loads((tiny_model / "finsent_training.json").read_text())
    assert meta["labels"] == ["negative", "neutral", "positive"]
    assert meta["steps"] == 3 and meta["config"]["seed"] == 42
    assert meta["config"]["layer_decay"] == 0.9 and meta["config"]["label_smoothing"] == 0.1
    assert meta["device"] == "cpu"
    assert len(meta["data"]["files"]) == 1 and all(len(h) == 64 for h in meta["data"]["files"].values())
    assert {"accuracy", "macro_f1", "confusion_matrix"} <= set(meta["metrics"])
    assert (tiny_model / "model.safetensors").is_file() and (tiny_model / "tokenizer.json").is_file()


def test_evaluate_json_has_the_documented_keys(tiny_model, tmp_path):
    r = finsent("evaluate", "--model", str(tiny_model), "--data", str(DEMO_TRAIN), "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "n"} <= set(report)
    assert report["n"] == len(load([DEMO_TRAIN])[0])
    assert sum(map(sum, report["confusion_matrix"])) == report["n"]


def test_export_load_score_and_onnx_matches_torch(tiny_model, tmp_path):
    from transformers import AutoTokenizer

    from finsent.training.classifier import load_classifier
    from finsent.training.train import predict_torch

    repo = tmp_path / "repo"
    r = finsent("export", "--model", str(tiny_model), "--repo", str(repo), "--format", "onnx")
    assert r.returncode == 0, r.stderr[-3000:]
    assert versions(repo, "finsent_sentiment") == [1]
    folder = repo / "finsent_sentiment" / "1"
    manifest = read_manifest(folder)
    assert manifest.format == "onnx" and manifest.version == 1
    assert set(manifest.files) >= {"model.onnx", "tokenizer.json"}

    texts = [
        "Profit warning sends shares down 12%",
        "Board meets on Tuesday",
        "Record revenue, guidance raised",
        "a " * 300,
    ]
    onnx_logits = OnnxModel(folder, max_length=128).logits(texts, chunk_size=2)
    torch_logits = predict_torch(
        load_classifier(tiny_model),
        AutoTokenizer.from_pretrained(str(tiny_model)),
        texts,
        128,
    )
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-3)

    # Lanes run chunks concurrently and scatter rows back: same logits, same order, any lane count.
    many = [f"{t} ({i})" * (1 + i % 5) for i, t in enumerate(texts * 10)]
    one_lane = OnnxModel(folder, max_length=128, threads=1).logits(many, chunk_size=4)
    for lanes in (2, 3):
        np.testing.assert_allclose(
            OnnxModel(folder, max_length=128, threads=lanes).logits(many, chunk_size=4),
            one_lane,
            atol=1e-5,
        )
    # A small batch is split so every lane gets work (6 texts on 3 lanes: chunks of 2, not 4).
    np.testing.assert_allclose(
        OnnxModel(folder, max_length=128, threads=3).logits(many[:6], chunk_size=4),
        one_lane[:6],
        atol=1e-5,
    )

    backend = EmbeddedBackend(repo, "finsent_sentiment", poll_s=0)
    result = backend.score(texts)
    assert result.model.version == "1"
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-5)

    # A second export becomes version 2 and the backend switches to it between batches,
    # while a stream of calls keeps succeeding.
    errors: list[BaseException] = []
    seen: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                seen.add(backend.score(texts[:2]).model.version)
            except BaseException as exc:
                errors.append(exc)

    t = threading.Thread(target=hammer)
    t.start()
    r = finsent("export", "--model", str(tiny_model), "--repo", str(repo), "--format", "onnx-int8")
    assert r.returncode == 0, r.stderr[-3000:]
    assert backend.refresh() is True
    for _ in range(50):
        if "2" in seen:
            break
        threading.Event().wait(0.05)
    stop.set()
    t.join()
    assert not errors
    assert seen == {"1", "2"}
    assert backend.model.version == "2"
    assert read_manifest(repo / "finsent_sentiment" / "2").format == "onnx-int8"
    assert "int8_argmax_agreement" in read_manifest(repo / "finsent_sentiment" / "2").checks


def test_layer_decay_gives_each_depth_its_learning_rate():
    from transformers import BertConfig

    from finsent.training.classifier import MeanPoolForSequenceClassification
    from finsent.training.train import parameter_groups

    config = BertConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=3, num_attention_heads=2, intermediate_size=16
    )
    config.num_labels = 3
    model = MeanPoolForSequenceClassification(config)
    lr_of = {}
    for group in parameter_groups(model, 1.0, 0.01, 0.5):
        for param in group["params"]:
            lr_of[id(param)] = group["lr"]
    named = dict(model.named_parameters())
    assert lr_of[id(named["classifier.weight"])] == 1.0
    assert lr_of[id(named["bert.encoder.layer.2.output.dense.weight"])] == 0.5
    assert lr_of[id(named["bert.encoder.layer.0.output.dense.weight"])] == 0.125
    assert lr_of[id(named["bert.embeddings.word_embeddings.weight"])] == 0.0625
    assert len(lr_of) == len(named)  # every parameter is trained
    assert len(parameter_groups(model, 1.0, 0.01, 1.0)) == 1  # off: plain AdamW


def _can_build_tensorrt() -> bool:
    import importlib.util

    import torch

    return importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available()


@pytest.mark.skipif(_can_build_tensorrt(), reason="this host can build engines: bench.gpu checks it")
def test_tensorrt_export_without_a_gpu_stops_clearly_and_writes_nothing(tiny_model, tmp_path):
    repo = tmp_path / "repo"
    r = finsent("export", "--model", str(tiny_model), "--repo", str(repo), "--format", "tensorrt")
    assert r.returncode != 0
    assert "needs an NVIDIA GPU and the `tensorrt` Python package" in r.stderr
    assert "--format onnx" in r.stderr  # it says what to do instead
    assert "Traceback" not in r.stderr
    assert not (repo / "finsent_sentiment_trt").exists()


def test_broken_new_version_keeps_the_old_one(tiny_model, tmp_path):
    repo = tmp_path / "repo"
    assert (
        finsent("export", "--model", str(tiny_model), "--repo", str(repo), "--format", "onnx").returncode == 0
    )
    backend = EmbeddedBackend(repo, "finsent_sentiment", poll_s=0)
    broken = repo / "finsent_sentiment" / "2"
    shutil.copytree(repo / "finsent_sentiment" / "1", broken)
    (broken / "model.onnx").write_bytes(b"not a model")
    assert backend.refresh() is False
    assert backend.model.version == "1"
    assert backend.score(["still works"]).probs.shape == (1, 3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"text,label\nShares fell,bearish-ish\n", "unknown label"),
        (b"", "empty"),
        (b"text,label\n", "no rows"),
        (b"sentence,sentiment\nx,positive\n", "header"),
        (b"text,label\n\xff\xfe bad,positive\n", "UTF-8"),
    ],
)
def test_bad_training_files_give_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load([path])
    r = finsent("train", "--data", str(path), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "data error" in r.stderr and message.lower() in r.stderr.lower()
    assert "Traceback" not in r.stderr


def test_dedup_resolves_and_drops_conflicts(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [
        {"text": "A", "label": "positive"},
        {"text": "A", "label": "positive"},
        {"text": "A", "label": "neutral"},
        {"text": "B", "label": "negative"},
        {"text": "B", "label": "positive"},
        {"text": "C", "label": "Bearish"},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines))
    examples, report = load([path])
    assert [(e.text, e.label) for e in examples] == [("A", 2), ("C", 0)]
    assert report.conflicts_resolved == 1 and report.conflicts_dropped == 1 and report.duplicates_dropped == 3


def test_train_with_no_data_files_is_a_data_error_that_names_both_flags(tmp_path):
    r = finsent("train", "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "data error" in r.stderr and "--data" in r.stderr and "--event-data" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()
