"""`finsent labels import`, `finsent retrain` and `finsent rollback`, as a user runs them, on a tiny
model: a better model is promoted, a worse one (trained on wrong labels) rejected, each with a
report; rollback serves earlier weights again as a new version; a golden set that overlaps the
training data stops the run; SIGTERM abandons a run with nothing promoted."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from finsent.inference.embedded import OnnxModel
from finsent.inference.model_repo import read_manifest, versions
from finsent.retrain.metrics import RetrainCollector
from finsent.retrain.promote import prune
from finsent.retrain.state import StatePaths
from support.process import Process
from support.retraining import Workspace, report

pytestmark = pytest.mark.slow

NAME = "finsent_sentiment"


def samples(metric_families, name: str) -> dict[tuple, float]:
    out = {}
    for family in metric_families:
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_promotes_a_better_model_rejects_a_worse_one_and_rolls_back(ws: Workspace):
    # Run 1: an analyst who gets every label wrong; with nothing serving, it is promoted (version 1).
    r = ws.finsent("labels", "import", str(ws.label_file("wrong.csv", "mallory", shuffled=True)))
    assert r.returncode == 0, r.stderr
    assert f"stored {len(ws.pool)} label events; rejected 0" in r.stdout
    r = ws.finsent("retrain")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "run 1: promoted" in r.stdout
    assert versions(ws.repo, NAME) == [1]

    # Run 2: two careful analysts outvote mallory on every text: a better model, promoted.
    for name in ("ana", "bo"):
        assert ws.finsent("labels", "import", str(ws.label_file(f"{name}.csv", name))).returncode == 0
    r = ws.finsent("retrain")
    assert r.returncode == 0 and "run 2: promoted" in r.stdout, r.stdout + r.stderr[-3000:]
    rep2 = report(ws, 2)
    assert rep2["data"]["labels"]["conflicts_resolved"] == len(ws.pool)
    golden2 = rep2["metrics"]["golden"]
    assert golden2["candidate"]["macro_f1"] > golden2["serving"]["macro_f1"] + 0.2
    manifest2 = read_manifest(ws.repo / NAME / "2")
    lineage = manifest2.model_dump()["lineage"]
    assert lineage["parent_version"] == 1 and lineage["retrain_run"] == 2
    assert set(lineage["data"]["label_store"]) and lineage["recipe"]["epochs"] == 6
    assert lineage["golden"]["macro_f1"] == golden2["candidate"]["macro_f1"]
    assert (Path(manifest2.source) / "config.json").is_file()  # the checkpoint behind it is kept

    # Run 3: two more bad analysts make the wrong labels the majority: worse, rejected.
    for name in ("eve", "oscar"):
        assert (
            ws.finsent("labels", "import", str(ws.label_file(f"{name}.csv", name, shuffled=True))).returncode
            == 0
        )
    r = ws.finsent("retrain")
    assert r.returncode == 0 and "run 3: rejected" in r.stdout, r.stdout + r.stderr[-3000:]
    assert versions(ws.repo, NAME) == [1, 2]  # nothing published
    rep3 = report(ws, 3)
    assert rep3["outcome"] == "rejected" and "golden macro-F1" in rep3["reason"]
    summary = (ws.state / "reports" / "run-3.md").read_text()
    assert "REJECTED" in summary and "| macro-F1 |" in summary and "## Gate" in summary
    assert not (ws.state / "work" / "run-3").exists()

    # Metrics, as the scheduler serves them, from the ledger and the repository.
    families = list(RetrainCollector(StatePaths(ws.state), ws.repo, NAME).collect())
    runs = samples(families, "finsent_retrain_runs_total")
    assert runs[(("outcome", "promoted"),)] == 2 and runs[(("outcome", "rejected"),)] == 1
    f1 = samples(families, "finsent_model_golden_macro_f1")
    assert f1[(("role", "serving"),)] == pytest.approx(golden2["candidate"]["macro_f1"])
    assert f1[(("role", "candidate"),)] == pytest.approx(rep3["metrics"]["golden"]["candidate"]["macro_f1"])
    assert samples(families, "finsent_model_serving_version")[()] == 2
    assert samples(families, "finsent_labels_pending")[()] == 0

    # Rollback: version 2 replaced version 1, so by default version 1's weights serve again, as 3.
    r = ws.finsent("rollback")
    assert r.returncode == 0, r.stderr
    assert "version 3 now serves the weights of version 1" in r.stdout
    v1, v3 = read_manifest(ws.repo / NAME / "1"), read_manifest(ws.repo / NAME / "3")
    assert v3.files["model.onnx"] == v1.files["model.onnx"]
    assert v3.model_dump()["rollback_of"] == 1 and v3.model_dump()["lineage"]["parent_version"] == 2
    texts = ["Profit warning sends shares down 12%", "Record revenue, guidance raised"]
    one = OnnxModel(ws.repo / NAME / "1", max_length=64).logits(texts, 8)
    three = OnnxModel(ws.repo / NAME / "3", max_length=64).logits(texts, 8)
    np.testing.assert_allclose(one, three, atol=1e-6)
    r = ws.finsent("rollback", "--to", "2")
    assert r.returncode == 0 and "version 4 now serves the weights of version 2" in r.stdout
    r = ws.finsent("rollback", "--to", "9")
    assert r.returncode == 1 and "version 9 is not in" in r.stderr


def test_a_golden_set_that_overlaps_the_training_data_stops_the_run(ws: Workspace):
    leaky = ws.root / "leaky.csv"
    golden_text = json.loads(ws.golden.read_text().splitlines()[0])["text"]
    leaky.write_text(f'text,label\n"{golden_text}",negative\nShares fell,negative\n')
    r = ws.finsent("retrain", env={"FINSENT_RETRAIN_DATA": str(leaky)})
    assert r.returncode == 1
    assert "run 1: failed: the golden set overlaps the training data in 1 texts" in r.stdout
    assert versions(ws.repo, NAME) == []
    with sqlite3.connect(ws.state / "runs.db") as db:
        assert db.execute("SELECT outcome FROM runs").fetchall() == [("failed",)]


def test_an_analysts_label_of_a_golden_text_is_not_trained_on(ws: Workspace):
    golden_text = json.loads(ws.golden.read_text().splitlines()[0])["text"]
    labels = ws.root / "labels.csv"
    labels.write_text(
        "text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in ws.pool) + f'"{golden_text}",neutral\n'
    )
    assert ws.finsent("labels", "import", str(labels), "--labeller", "ana").returncode == 0
    r = ws.finsent("retrain", env={"FINSENT_RETRAIN_EPOCHS": "1", "FINSENT_RETRAIN_MAX_STEPS": "2"})
    assert r.returncode == 0, r.stderr[-2000:]
    data = report(ws, 1)["data"]
    assert data["labels_on_golden_set"] == 1
    assert data["labels_trained"] + data["labels_held_out"] == len(ws.pool)


def test_sigterm_abandons_a_run_and_promotes_nothing(ws: Workspace, tmp_path: Path):
    assert ws.finsent("labels", "import", str(ws.label_file("ana.csv", "ana"))).returncode == 0
    proc = Process(
        [*ws.finsent_argv("retrain")],
        tmp_path / "retrain.log",
        env={**ws.env, "FINSENT_RETRAIN_EPOCHS": "100", "FINSENT_RETRAIN_LR": "0.0001"},
    )
    deadline = time.monotonic() + 120
    while not (ws.state / "work" / "run-1" / "student.partial").exists():
        assert proc.alive() and time.monotonic() < deadline, (tmp_path / "retrain.log").read_text()[-3000:]
        time.sleep(0.2)
    time.sleep(1.0)  # in the middle of training
    proc.signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 1
    rep = report(ws, 1)
    assert rep["outcome"] == "abandoned" and "stopped" in rep["reason"]
    assert versions(ws.repo, NAME) == [] and not (ws.state / "work" / "run-1").exists()
    assert "run 1: abandoned" in (tmp_path / "retrain.log").read_text()


def test_prune_keeps_the_newest_versions(tmp_path: Path):
    for v in range(1, 5):
        folder = tmp_path / NAME / str(v)
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
    assert prune(tmp_path, NAME, keep=2) == [1, 2]
    assert versions(tmp_path, NAME) == [3, 4]
    assert sorted(p.name for p in (tmp_path / NAME).iterdir()) == ["3", "4"]


def test_the_gpu_hosts_plan_trains_a_teacher_then_distils_the_student(ws: Workspace, tmp_path: Path):
    """`teacher-student` (the plan where torch sees a GPU), on CPU with tiny bases: the teacher is
    trained, the served student learns from its soft labels, and the teacher is kept for next time."""
    from support.tiny_models import tiny_bert_base

    teacher_base = tiny_bert_base(tmp_path / "tiny-teacher", hidden=96)
    assert ws.finsent("labels", "import", str(ws.label_file("ana.csv", "ana"))).returncode == 0
    env = {"FINSENT_RETRAIN_PLAN": "teacher-student", "FINSENT_RETRAIN_TEACHER_BASE": str(teacher_base)}
    r = ws.finsent("retrain", env=env)
    assert r.returncode == 0 and "run 1: promoted" in r.stdout, r.stderr[-3000:]
    training = report(ws, 1)["training"]
    assert training["plan"] == "teacher-student"
    assert training["teacher"]["config"]["base"] == str(teacher_base)
    assert training["student"]["config"]["distill_temperature"] == 2.0
    assert (ws.state / "checkpoints" / "run-1-teacher" / "config.json").is_file()
    student = json.loads(
        (Path(read_manifest(ws.repo / NAME / "1").source) / "finsent_training.json").read_text()
    )
    assert student["distillation"]["teacher"].endswith("teacher")
