"""Building the demo model when several processes (scorers, test workers) start on one repository."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import finsent.demo.model as demo_model
import finsent.training.export as export_module
from finsent.inference.model_repo import MANIFEST, versions


def test_starts_together_build_and_export_the_demo_model_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    exports: list[Path] = []

    def slow_export(checkpoint: Path, repo: Path, name: str, **_: Any) -> dict[str, Any]:
        exports.append(checkpoint)
        time.sleep(0.3)  # long enough for a second starter to look at the empty repository
        version = len(versions(repo, name)) + 1
        folder = repo / name / str(version)
        folder.mkdir(parents=True)
        (folder / MANIFEST).write_text(json.dumps({"version": version}))
        return {"version": version, "format": "onnx"}

    monkeypatch.setattr(export_module, "export", slow_export)
    monkeypatch.setattr(demo_model, "ensure_demo_checkpoint", lambda max_length=64: tmp_path / "ckpt")
    repo = tmp_path / "repo"
    got: list[int] = []
    starters = [
        threading.Thread(target=lambda: got.append(demo_model.ensure_demo_model(repo, "m"))) for _ in range(3)
    ]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    assert len(exports) == 1
    assert got == [1, 1, 1]
    assert versions(repo, "m") == [1]


def test_starts_together_train_the_demo_checkpoint_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    trained: list[Path] = []

    def slow_train(out: Path, max_length: int) -> Path:
        trained.append(out)
        time.sleep(0.3)
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        return out

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(demo_model, "_train_demo_checkpoint", slow_train)
    got: list[Path] = []
    starters = [
        threading.Thread(target=lambda: got.append(demo_model.ensure_demo_checkpoint())) for _ in range(3)
    ]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    assert len(trained) == 1
    assert got == [demo_model.demo_checkpoint_dir()] * 3
