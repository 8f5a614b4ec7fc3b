"""The event-type head on tiny models: training both heads, adding one to a trained model, distilling
both, export with a second output and the int8 gate on both, serving. Aggregation by event type:
aggregate/test_event_alerts.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from finsent.contracts.event_type import EVENT_TYPES
from finsent.training.data import (
    load,
)

LEGAL, PRODUCT, MOVE = "Legal | Regulation", "Company | Product News", "Stock Movement"


def finsent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finsent.cli", *args], capture_output=True, text=True)


def _event_rows() -> list[tuple[str, str]]:
    """Separable event texts: the head has something to learn even on a tiny random encoder."""
    companies = ["Acme", "Borl", "Cato", "Dram", "Eldo", "Fenn", "Gost", "Hale", "Iver", "Jost"]
    rows = []
    for c in companies:
        rows += [
            (f"Regulators fine {c} over reporting breaches", LEGAL),
            (f"Court rules against {c} in lawsuit", LEGAL),
            (f"{c} launches new product line", PRODUCT),
            (f"{c} recalls its new product", PRODUCT),
            (f"{c} shares rise in early trading", MOVE),
            (f"{c} stock falls at the open", MOVE),
        ]
    return rows


@pytest.fixture(scope="module")
def two_heads(tmp_path_factory) -> dict[str, Path]:
    """A tiny two-head model trained with `finsent train --data ... --event-data ...`, exported."""
    from finsent.demo.model import DEMO_TRAIN
    from support.tiny_models import tiny_bert_base

    root = tmp_path_factory.mktemp("two-heads")
    base = tiny_bert_base(root / "base")
    (root / "sentiment.csv").write_text("\n".join(DEMO_TRAIN.read_text().splitlines()[:121]) + "\n")
    with (root / "events.csv").open("w") as f:
        f.write("text,label\n")
        for text, label in _event_rows():
            f.write(f'"{text}",{label}\n')
    out = root / "model"
    r = finsent(
        "train", "--data", str(root / "sentiment.csv"), "--event-data", str(root / "events.csv"),
        "--base", str(base), "--out", str(out), "--epochs", "12", "--patience", "12", "--batch-size", "16",
        "--lr", "1e-3", "--device", "cpu",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "event types: macro-F1" in r.stdout
    repo = root / "repo"
    r = finsent("export", "--model", str(out), "--repo", str(repo))
    assert r.returncode == 0, r.stderr[-3000:]
    return {"root": root, "base": base, "model": out, "repo": repo, "events": root / "events.csv"}


def test_training_writes_both_heads_metrics_and_splits(two_heads):
    model = two_heads["model"]
    meta = json.loads((model / "finsent_training.json").read_text())
    assert meta["event_labels"] == list(EVENT_TYPES)
    assert meta["metrics"]["n"] > 0 and meta["event_metrics"]["n"] > 0
    # The tiny encoder learns the separable event texts: well above chance among three types.
    assert meta["event_metrics"]["macro_f1"] > 0.6, meta["event_metrics"]
    config = json.loads((model / "config.json").read_text())
    assert config["finsent_event_labels"] == list(EVENT_TYPES)
    held_out = [json.loads(line) for line in (model / "eval_split_event.jsonl").read_text().splitlines()]
    assert held_out and all(row["label"] in EVENT_TYPES for row in held_out)
    sentiment_split = (model / "eval_split.jsonl").read_text().splitlines()
    assert all(json.loads(line)["label"] in ("negative", "neutral", "positive") for line in sentiment_split)


def test_export_has_a_second_output_and_gates_int8_on_both_heads(two_heads):
    import onnxruntime as ort

    version = two_heads["repo"] / "finsent_sentiment" / "1"
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["event_labels"] == list(EVENT_TYPES)
    checks = manifest["checks"]
    assert {"event_int8_argmax_agreement", "event_int8_f1_drop", "event_int8_keeps_quality"} <= set(checks)
    both = checks["int8_argmax_agreement"] >= 0.99 and checks["event_int8_keeps_quality"]
    assert checks["int8_keeps_quality"] == (both and checks["int8_f1_drop"] <= 0.005)
    outputs = [o.name for o in ort.InferenceSession(str(version / "model.onnx")).get_outputs()]
    assert outputs == ["logits", "event_logits"]


def test_the_embedded_backend_returns_both_heads_and_evaluate_reports_the_event_head(two_heads):
    from finsent.inference.embedded import EmbeddedBackend

    backend = EmbeddedBackend(two_heads["repo"], "finsent_sentiment", poll_s=0)
    texts = ["Regulators fine Zeta over reporting breaches", "Zeta shares rise in early trading"]
    result = backend.score(texts)
    assert result.probs.shape == (2, 3) and result.event_probs is not None
    assert result.event_probs.shape == (2, 20) and result.event_labels == EVENT_TYPES
    np.testing.assert_allclose(result.event_probs.sum(axis=1), 1.0, rtol=1e-5)

    for model in (two_heads["model"], two_heads["repo"] / "finsent_sentiment" / "1"):
        r = finsent(
            "evaluate", "--model", str(model), "--head", "event", "--data", str(two_heads["events"]), "--json"
        )
        assert r.returncode == 0, r.stderr[-2000:]
        report = json.loads(r.stdout)
        assert {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "n"} <= set(report)
        assert report["n"] == 60 and report["head"] == "event"
        assert set(report["per_class"]) == set(EVENT_TYPES)


def test_the_event_head_of_a_sentiment_only_model_is_a_clear_error(tiny_base, tmp_path):
    from finsent.demo.model import DEMO_TRAIN
    from finsent.training.train import TrainConfig, train
    from support.tiny_models import tiny_bert_base

    examples, _ = load([DEMO_TRAIN])
    out = tmp_path / "one-head"
    train(
        examples[:40], out, TrainConfig(base=tiny_bert_base(tiny_base), epochs=1, max_steps=1, progress=False)
    )
    data = tmp_path / "ev.csv"
    data.write_text(f"text,label\nAcme sued,{LEGAL}\n")
    r = finsent("evaluate", "--model", str(out), "--head", "event", "--data", str(data))
    assert r.returncode == 2
    assert "has no event-type head (trained without --event-data)" in r.stderr


def test_distillation_passes_the_event_head_on(two_heads, tmp_path):
    """A two-head teacher: the student gets an event head and learns it from the teacher's soft
    event-type targets, here on sentiment labels and unlabelled text alone."""
    from finsent.demo.model import DEMO_TRAIN

    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("text\n" + "\n".join(f'"{t}"' for t, _ in _event_rows()) + "\n")
    out = tmp_path / "student"
    sentiment = tmp_path / "sentiment.csv"
    sentiment.write_text("\n".join(DEMO_TRAIN.read_text().splitlines()[:61]) + "\n")
    r = finsent(
        "distill", "--teacher", str(two_heads["model"]), "--data", str(sentiment),
        "--unlabelled", str(unlabelled), "--base", str(two_heads["base"]), "--out", str(out),
        "--epochs", "1", "--batch-size", "16", "--device", "cpu",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out / "finsent_training.json").read_text())
    assert meta["event_labels"] == list(EVENT_TYPES)
    assert meta["distillation"]["unlabelled"] == 60


def test_event_data_alone_trains_the_event_head(two_heads, tmp_path):
    """No sentiment labels at all: the sentiment head's loss is masked, not NaN (its class weights
    over no labels were a mean of nothing)."""
    out = tmp_path / "events-only"
    r = finsent(
        "train", "--event-data", str(two_heads["events"]), "--base", str(two_heads["base"]), "--out",
        str(out), "--epochs", "2", "--batch-size", "16", "--lr", "1e-3", "--device", "cpu",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out / "finsent_training.json").read_text())
    assert all(np.isfinite(h["loss"]) for h in meta["history"]), meta["history"]
    assert meta["event_metrics"]["n"] == 12 and meta["metrics"]["n"] == 0


def test_adding_an_event_head_with_train_only_leaves_every_sentiment_score_unchanged(tiny_base, tmp_path):
    from finsent.demo.model import DEMO_TRAIN
    from finsent.training.evaluate import predict_heads
    from finsent.training.train import TrainConfig, train
    from support.tiny_models import tiny_bert_base

    examples, _ = load([DEMO_TRAIN])
    sentiment = tmp_path / "sentiment"
    train(examples[:60], sentiment, TrainConfig(base=tiny_bert_base(tiny_base), epochs=1, progress=False))
    events = tmp_path / "events.csv"
    events.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in _event_rows()))
    out = tmp_path / "with-events"
    r = finsent(
        "train", "--init-from", str(sentiment), "--train-only", "event", "--event-data", str(events),
        "--out", str(out), "--epochs", "2", "--lr", "1e-2", "--device", "cpu",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    texts = [e.text for e in examples[60:120]] + [t for t, _ in _event_rows()[:10]]
    before, no_events, _ = predict_heads(sentiment, texts)
    after, event_logits, labels = predict_heads(out, texts)
    assert no_events is None and event_logits is not None and labels == list(EVENT_TYPES)
    np.testing.assert_array_equal(before, after)


def test_a_warm_start_on_sentiment_labels_keeps_the_event_head(two_heads, tmp_path):
    """Retraining warm-starts from the serving model with sentiment labels only: the candidate keeps
    the event head (its weights as they were; its outputs move with the encoder) and exports it."""
    import torch
    from safetensors.torch import load_file

    from finsent.demo.model import DEMO_TRAIN
    from finsent.training.train import TrainConfig, train

    examples, _ = load([DEMO_TRAIN])
    out = tmp_path / "warm"
    train(examples[:80], out, TrainConfig(init_from=str(two_heads["model"]), epochs=1, progress=False))
    before = load_file(str(two_heads["model"] / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    for key in ("event_classifier.weight", "event_classifier.bias"):
        assert torch.equal(before[key], after[key])
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])  # it did train
    repo = tmp_path / "repo"
    r = finsent("export", "--model", str(out), "--repo", str(repo), "--format", "onnx")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((repo / "finsent_sentiment" / "1" / "manifest.json").read_text())["event_labels"]
