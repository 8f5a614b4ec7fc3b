"""The event-type head (#15) on tiny models: data per head, the repost-free split, training both
heads, adding one to a trained model, distillation of both, export with a second output and the int8
gate on both, serving, and the contract change. Aggregation by event type: test_event_alerts.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsent.contracts.alert import AlertEvent
from finsent.contracts.event_type import EVENT_TYPES
from finsent.contracts.news import ScoredItem
from finsent.contracts.topic_score import fan_out
from finsent.training.data import (
    UNLABELLED,
    DataError,
    Example,
    load,
    merge_heads,
    repost_free_split,
    repost_key,
)
from finsent.training.scoring_metrics import classification_report
from support.scenarios import T0

LEGAL, PRODUCT, MOVE = "Legal | Regulation", "Company | Product News", "Stock Movement"


def finsent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finsent.cli", *args], capture_output=True, text=True)


# --- data ---------------------------------------------------------------------------------------------


def test_event_files_are_checked_against_the_taxonomy(tmp_path):
    good = tmp_path / "events.csv"
    good.write_text('text,label\n"Court fines Acme",legal | regulation\n"Acme buys Beta",M&A | Investments\n')
    examples, _ = load([good], head="event")
    assert [(e.label, EVENT_TYPES[e.event]) for e in examples] == [
        (UNLABELLED, LEGAL),
        (UNLABELLED, "M&A | Investments"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nAcme wins,Weather\n")
    with pytest.raises(DataError, match=r"bad.csv:2: unknown event type 'Weather'"):
        load([bad], head="event")


def test_a_text_in_both_files_trains_both_heads():
    sentiment = [Example("Acme sued by regulator", 0), Example("Acme flat", 1)]
    events = [Example("Acme sued by regulator", UNLABELLED, event=12), Example("Oil up", UNLABELLED, event=6)]
    merged = merge_heads(sentiment, events)
    assert [(e.text, e.label, e.event) for e in merged] == [
        ("Acme sued by regulator", 0, 12),
        ("Acme flat", 1, UNLABELLED),
        ("Oil up", UNLABELLED, 6),
    ]
    assert sentiment[0].event == UNLABELLED  # the callers' examples are not changed (reused elsewhere)


def test_repost_key_ignores_links_case_and_spacing():
    a = "Acme beats estimates  https://t.co/AbC123"
    b = "ACME beats estimates https://t.co/zzz999 "
    assert repost_key(a) == repost_key(b) == "acme beats estimates"
    assert repost_key("Acme misses estimates") != repost_key(a)


posts = st.lists(
    st.tuples(
        st.sampled_from(["Acme up", "Beta down", "Gamma sued", "Delta buys Eps", "Fed holds", "Oil rises"]),
        st.integers(0, 3),  # which repost variant
        st.integers(0, 19),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(posts, st.integers(0, 1000))
def test_reposts_never_straddle_the_split(rows, seed):
    """Property: whatever the data, texts equal without links/case/spacing land on one side only,
    and nothing is lost or duplicated."""

    def variant(text: str, v: int, n: int) -> str:
        return [text, f"{text} https://t.co/x{n}", f"{text}  https://t.co/y{n} ", text.upper()][v]

    examples = [Example(variant(text, v, n), UNLABELLED, event=e) for n, (text, v, e) in enumerate(rows)]
    train, test = repost_free_split(examples, 0.3, seed)
    assert sorted(e.text for e in train + test) == sorted(e.text for e in examples)
    assert not {repost_key(e.text) for e in train} & {repost_key(e.text) for e in test}


def test_macro_f1_counts_only_classes_in_the_truth_or_the_predictions():
    report = classification_report(np.array([0, 0, 5, 5]), np.array([0, 0, 5, 4]), EVENT_TYPES)
    # classes 0, 4, 5 appear: F1 1.0, 0.0, 0.667 -> 0.556, not diluted by the 17 absent types
    assert report["macro_f1"] == pytest.approx((1.0 + 0.0 + 2 / 3) / 3)
    assert report["labels"] == list(EVENT_TYPES) and len(report["confusion_matrix"]) == 20


# --- training, distillation, export, serving ------------------------------------------------------------


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


def test_train_needs_some_data():
    r = finsent("train", "--out", "/tmp/never-written")
    assert r.returncode != 0 and "--data (sentiment) and/or --event-data" in r.stderr


def test_split_command_writes_a_repost_free_split(tmp_path):
    data = tmp_path / "topics.csv"
    rows = ["text,label"]
    for i in range(40):
        rows.append(f'"Acme {i} beats https://t.co/a{i}",Financials')
        rows.append(f'"ACME {i} beats https://t.co/b{i}",Financials')  # a repost
    data.write_text("\n".join(rows) + "\n")
    r = finsent(
        "split", "--data", str(data), "--train-out", str(tmp_path / "tr.jsonl"), "--test-out",
        str(tmp_path / "te.jsonl"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    train = [json.loads(x)["text"] for x in (tmp_path / "tr.jsonl").read_text().splitlines()]
    test = [json.loads(x)["text"] for x in (tmp_path / "te.jsonl").read_text().splitlines()]
    assert len(train) + len(test) == 80 and 8 <= len(test) <= 16
    assert not {repost_key(t) for t in train} & {repost_key(t) for t in test}


# --- contract -------------------------------------------------------------------------------------------


def test_scored_item_contract_change_is_backward_compatible():
    old = {
        "id": "1", "topics": ["BA"], "source": "s", "published_at": "2026-01-05T13:00:00Z",
        "label": "negative", "probs": {"negative": 0.8, "neutral": 0.1, "positive": 0.1}, "score": -0.7,
        "model": {"name": "m", "version": "1"}, "scored_at": "2026-01-05T13:00:01Z",
    }  # fmt: skip
    item = ScoredItem.model_validate(old)  # a record written before the event head
    assert item.event_type is None and item.event_prob is None
    new = item.model_copy(update={"event_type": LEGAL, "event_prob": 0.9})
    assert [t.event_type for t in fan_out(new)] == [LEGAL]
    # An old reader (unknown keys ignored) still reads what the new scorer writes.
    assert "event_type" in new.model_dump_json()
    AlertEvent.model_validate(
        {
            "alert_id": "a",
            "status": "firing",
            "topic": "BA",
            "severity": "warning",
            "negative_share": 0.5,
            "baseline": 0.1,
            "zscore": 4.0,
            "volume": 10,
            "window_s": 300,
            "started_at": T0.isoformat(),
            "event_time": T0.isoformat(),
            "generated_at": T0.isoformat(),
        }
    )
