"""The model repository layout shared by `finsent export`, the embedded backend and Triton:

    <repo>/<model name>/config.pbtxt          Triton's model configuration
    <repo>/<model name>/<N>/model.onnx        one exported model per numbered version
    <repo>/<model name>/<N>/tokenizer.json
    <repo>/<model name>/<N>/manifest.json     what it is, where it came from, how good it is

A version counts only once its manifest exists; export writes the manifest last and moves the
whole folder in with one rename, so readers never see half a version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
