"""Distillation: the loss (hard and soft parts, unlabelled examples, temperature), unlabelled text
files, and `finsent distill` end to end on tiny data with the demo model as the teacher."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from finsent.training.data import UNLABELLED, DataError, load_texts  # noqa: E402
from finsent.training.train import distillation_loss  # noqa: E402

F = torch.nn.functional


def batch():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 3.0]], requires_grad=True)
    soft = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    labels = torch.tensor([0, UNLABELLED, 2])
    return logits, soft, labels, torch.ones(3), torch.ones(3)


def test_alpha_one_is_the_hard_loss_on_labelled_examples_only():
    logits, soft, labels, weight, class_weight = batch()
    got = distillation_loss(logits, labels, soft, weight, class_weight, 2.0, 1.0)
    hard = F.cross_entropy(logits[[0, 2]], labels[[0, 2]], reduction="sum") / 3  # the unlabelled row adds 0
    assert torch.allclose(got, hard)


def test_alpha_zero_is_temperature_squared_kl_and_zero_at_the_teacher():
    logits, soft, labels, weight, class_weight = batch()
    t = 3.0
    got = distillation_loss(logits, labels, soft, weight, class_weight, t, 0.0)
    kl = F.kl_div(F.log_softmax(logits / t, dim=-1), soft, reduction="batchmean") * t * t
    assert torch.allclose(got, kl, atol=1e-6)
    at_teacher = (soft.log() * t).detach()  # a student whose softened distribution is the teacher's
    assert distillation_loss(at_teacher, labels, soft, weight, class_weight, t, 0.0).abs() < 1e-6


def test_a_gradient_step_moves_the_student_towards_the_teacher():
    logits, soft, labels, weight, class_weight = batch()
    before = distillation_loss(logits, labels, soft, weight, class_weight, 2.0, 0.0)
    before.backward()
    stepped = (logits - 0.5 * logits.grad).detach()
    assert distillation_loss(stepped, labels, soft, weight, class_weight, 2.0, 0.0) < before


def test_unlabelled_files_need_only_text(tmp_path):
    (tmp_path / "a.csv").write_text("text,source\nShares fell,x\nShares fell,y\nRecord sales,z\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"text": "Guidance cut"}) + "\n\n")
    texts, report = load_texts([tmp_path / "a.csv", tmp_path / "b.jsonl"])
    assert texts == ["Shares fell", "Record sales", "Guidance cut"] and report.duplicates_dropped == 1
    (tmp_path / "c.csv").write_text("body\nx\n")
    with pytest.raises(DataError, match="'text'"):
        load_texts([tmp_path / "c.csv"])


@pytest.mark.slow
def test_finsent_distill_trains_a_student_from_a_teacher(tmp_path):
    from finsent.demo.model import DEMO_TRAIN, ensure_demo_checkpoint

    teacher = ensure_demo_checkpoint()
    rows = DEMO_TRAIN.read_text().splitlines()
    (tmp_path / "labelled.csv").write_text("\n".join(rows[:81]) + "\n")
    labelled_texts = {line.split(",")[0].strip('"') for line in rows[1:81]}
    unlabelled = [
        "Boeing shares slide after new safety probe",
        "Apple unveils record buyback",
        rows[1].split(",")[0],
    ]
    (tmp_path / "unlabelled.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in unlabelled) + "\n")
    out = tmp_path / "student"
    r = subprocess.run(
        [sys.executable, "-m", "finsent.cli", "distill", "--teacher", str(teacher),
         "--data", str(tmp_path / "labelled.csv"), "--unlabelled", str(tmp_path / "unlabelled.jsonl"),
         "--out", str(out), "--temperature", "3", "--alpha", "0.3", "--epochs", "1", "--max-steps", "4",
         "--batch-size", "16", "--device", "cpu"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "student: best epoch 1" in r.stdout
    meta = json.loads((out / "finsent_training.json").read_text())
    d = meta["distillation"]
    assert d["teacher"] == str(Path(teacher).resolve()) and (d["temperature"], d["alpha"]) == (3.0, 0.3)
    # The labelled text repeated among the unlabelled ones is not counted twice.
    expected_unlabelled = len([t for t in unlabelled if t.strip('"') not in labelled_texts])
    assert d["unlabelled"] == expected_unlabelled
    assert meta["config"]["distill_temperature"] == 3.0
    assert (out / "eval_split.jsonl").is_file() and (out / "model.safetensors").is_file()
    evaluated = [json.loads(line)["text"] for line in (out / "eval_split.jsonl").read_text().splitlines()]
    assert not set(evaluated) & set(unlabelled)  # evaluation holds labelled text only
