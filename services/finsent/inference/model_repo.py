"""The model repository layout shared by `finsent export`, the embedded backend and Triton:

    <repo>/<model name>/config.pbtxt          Triton's model configuration
    <repo>/<model name>/<N>/model.onnx        one exported model per numbered version
    <repo>/<model name>/<N>/tokenizer.json
    <repo>/<model name>/<N>/manifest.json     what it is, where it came from, how good it is

A version counts only once its manifest exists; export writes the manifest last and moves the
whole folder in with one rename, so readers never see half a version.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from finsent.contracts.news import LABELS

MANIFEST = "manifest.json"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    name: str
    version: int
    format: str = Field(description="onnx | onnx-int8 | tensorrt")
    labels: list[str]
    max_length: int
    source: str = Field(description="the trained model folder it was exported from")
    created_at: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict, description="file name -> sha256")
    pad_id: int = Field(default=0, description="the tokenizer's padding id (BERT 0, MPNet 1)")
    event_labels: list[str] | None = Field(
        default=None,
        description="the event-type head's classes in `event_logits` order; None: no event head",
    )


class ModelNotFound(FileNotFoundError):
    pass


def versions(repo: Path, name: str) -> list[int]:
    """Complete versions of `name`, oldest first."""
    root = repo / name
    if not root.is_dir():
        return []
    found = [int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / MANIFEST).is_file()]
    return sorted(found)


def latest_version(repo: Path, name: str) -> int | None:
    found = versions(repo, name)
    return found[-1] if found else None


def version_dir(repo: Path, name: str, version: int) -> Path:
    return repo / name / str(version)


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelNotFound(f"{folder} has no {MANIFEST}: not an exported model version")
    return Manifest.model_validate(json.loads(path.read_text()))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def next_version(repo: Path, name: str) -> int:
    """One more than any numbered folder, complete or not, so a half-written one is never reused."""
    root = repo / name
    taken = [int(p.name) for p in root.iterdir() if p.name.isdigit()] if root.is_dir() else []
    return max([*versions(repo, name), *taken, 0]) + 1


def publish_version(repo: Path, name: str, staging: Path, fields: dict[str, Any]) -> Manifest:
    """Publish a staged folder as the next version of `name`: number it, write its manifest (the
    given fields, the labels, the time, every file's sha256) last, then move it in with one rename,
    atomic on one filesystem, so readers see all of it or nothing."""
    version = next_version(repo, name)
    files = {p.name: sha256(p) for p in sorted(staging.iterdir()) if p.is_file()}
    # model_validate: a version's extra fields (checks, training) are allowed by the model.
    manifest = Manifest.model_validate(
        {
            "name": name,
            "version": version,
            "labels": [str(x) for x in LABELS],
            "created_at": datetime.now(UTC).isoformat(),
            "files": files,
            **fields,
        }
    )
    (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    staging.chmod(0o755)  # mkdtemp makes it private; Triton may run as another user
    target = version_dir(repo, name, version)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)
    return manifest
