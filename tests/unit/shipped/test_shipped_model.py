"""The shipped model: installed as version 1 of an empty repository, checked file by file, once even
when scorers start together; the package's own copy is whole and serves without torch."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from finsent.inference.model_repo import MANIFEST, read_manifest, sha256, versions
from finsent.shipped import SHIPPED_MODEL, ShippedModelError, ensure_model, install_shipped_model

NAME = "finsent_sentiment"


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A stand-in for the package's shipped folder: a manifest naming two files by sha256."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"onnx bytes")
    (folder / "tokenizer.json").write_text("{}")
    (folder / "MODEL_CARD.md").write_text("# card\n")
    manifest = {
        "name": NAME,
        "version": 1,
        "format": "onnx-int8",
        "labels": ["negative", "neutral", "positive"],
        "max_length": 128,
        "source": "/build/student",
        "created_at": "2026-12-02T00:00:00+00:00",
        "files": {f: sha256(folder / f) for f in ("model.onnx", "tokenizer.json")},
        "event_labels": ["Analyst Update"],
        "metrics": {"macro_f1": 0.9},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_an_empty_repository_gets_the_shipped_model_as_version_1(shipped, tmp_path):
    repo = tmp_path / "repo"
    assert ensure_model(repo, NAME, shipped) == 1
    installed = repo / NAME / "1"
    m = read_manifest(installed)
    assert m.format == "onnx-int8" and m.event_labels == ["Analyst Update"] and m.metrics == {"macro_f1": 0.9}
    assert "shipped" in m.source
    assert (installed / "model.onnx").read_bytes() == b"onnx bytes"
    assert (installed / "MODEL_CARD.md").is_file() and (installed / "model.py").is_file()
    assert ensure_model(repo, NAME, shipped) == 1  # a second start finds it
    assert versions(repo, NAME) == [1]


def test_a_repository_with_a_version_is_left_alone(shipped, tmp_path):
    repo = tmp_path / "repo"
    install_shipped_model(repo, NAME, shipped)
    install_shipped_model(repo, NAME, shipped)  # an operator's second copy: version 2
    assert ensure_model(repo, NAME, shipped) == 2


def test_scorers_starting_together_install_it_once(shipped, tmp_path):
    repo = tmp_path / "repo"
    found: list[int] = []
    threads = [
        threading.Thread(target=lambda: found.append(ensure_model(repo, NAME, shipped))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == [1, 1, 1, 1] and versions(repo, NAME) == [1]


def test_a_damaged_shipped_file_is_refused_and_nothing_is_installed(shipped, tmp_path):
    (shipped / "model.onnx").write_bytes(b"truncated")
    repo = tmp_path / "repo"
    with pytest.raises(ShippedModelError, match=r"model\.onnx.*sha256"):
        ensure_model(repo, NAME, shipped)
    assert versions(repo, NAME) == []
    assert [p.name for p in repo.iterdir()] == [".install.lock"]  # no half-installed folder


def test_a_missing_shipped_model_says_what_to_do(tmp_path):
    with pytest.raises(ShippedModelError, match="finsent export"):
        ensure_model(tmp_path / "repo", NAME, tmp_path / "nothing-here")


def test_the_package_ships_a_whole_model_with_its_card():
    manifest = read_manifest(SHIPPED_MODEL)
    assert manifest.format == "onnx-int8"
    assert manifest.event_labels and len(manifest.event_labels) == 20
    for name, digest in manifest.files.items():
        if name not in (MANIFEST, "model.py"):
            assert sha256(SHIPPED_MODEL / name) == digest, name
    card = (SHIPPED_MODEL / "MODEL_CARD.md").read_text()
    for needed in ("ODC-BY", "MIT", "never trained on", "finsent build-model", "Known limits"):
        assert needed in card, needed
    size = (SHIPPED_MODEL / "model.onnx").stat().st_size
    # The int8 MiniLM with its first three layers in fp32 (39 MB), not an fp32 (90 MB) or MPNet file.
    assert 15e6 < size < 45e6
    # It passed its own export gate: each head's argmax agrees with fp32 ONNX on >= 99% of the
    # validation texts, with macro-F1 no more than 0.005 lower.
    checks = json.loads((SHIPPED_MODEL / MANIFEST).read_text())["checks"]
    assert checks["int8_keeps_quality"] and checks["event_int8_keeps_quality"], checks["int8_recipe"]


def test_the_shipped_model_scores_without_torch(tmp_path):
    """The serving path imports no torch: install and score in a fresh interpreter that cannot."""
    import subprocess
    import sys

    repo = tmp_path / "repo"
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from pathlib import Path\n"
        "from finsent.shipped import ensure_model\n"
        "from finsent.inference.embedded import EmbeddedBackend\n"
        f"v = ensure_model(Path({str(repo)!r}), {NAME!r})\n"
        f"b = EmbeddedBackend(Path({str(repo)!r}), {NAME!r}, max_length=128, infer_batch=16, threads=1)\n"
        "r = b.score(['Regulator fines the bank $2 billion for money laundering', 'Record profit'])\n"
        "print(v, r.probs.argmax(1).tolist(), r.event_probs is not None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]  # after the "installed the shipped model" line
    assert last == "1 [0, 2] True", out.stdout
    shutil.rmtree(repo)
