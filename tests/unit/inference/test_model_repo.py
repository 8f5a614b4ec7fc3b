"""The model repository: version numbers and hashes."""

from __future__ import annotations

from pathlib import Path


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
