"""The shipped model: the distilled MiniLM (int8 ONNX, sentiment and event-type heads) that FinSent
installs as version 1 of a model repository that has none, so a new user's first `finsent run`
scores with a real financial model and trains nothing. Its card (MODEL_CARD.md beside it) says what
it was trained on, under which licences, how to rebuild it (`finsent build-model`), and how good
it is on held-out data. Serving needs no torch: installing is a checked copy."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

from finsent.inference.model_repo import (
    MANIFEST,
    Manifest,
    latest_version,
    publish_version,
    sha256,
)
from finsent.locks import exclusive

__all__ = ["SHIPPED_MODEL", "ShippedModelError", "ensure_model", "install_shipped_model"]

SHIPPED_MODEL = Path(__file__).resolve().parent / "finsent_sentiment"
MODEL_CARD = "MODEL_CARD.md"
# The Triton Python-backend model each version carries (as `finsent export` puts it there).
_TRITON_MODEL_PY = Path(__file__).resolve().parents[1] / "triton" / "python_model.py"
_LOCK = ".install.lock"

log = logging.getLogger(__name__)


class ShippedModelError(RuntimeError):
    """The shipped model is missing or damaged in this installation."""


def _shipped_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise ShippedModelError(
            f"{folder}: no shipped model in this installation; export one with `finsent export` "
            "or rebuild it with `finsent build-model`"
        )
    manifest = Manifest.model_validate(json.loads(path.read_text()))
    for name, digest in manifest.files.items():
        if name in (MANIFEST, "model.py"):
            continue
        file = folder / name
        if not file.is_file() or sha256(file) != digest:
            raise ShippedModelError(f"{file}: missing or not the file the shipped manifest names (sha256)")
    return manifest


def install_shipped_model(repo: Path, name: str, folder: Path = SHIPPED_MODEL) -> int:
    """Publish the shipped model as the next version of `repo/name` (checked against its manifest's
    sha256, staged, then one rename, like an export); returns the version."""
    shipped = _shipped_manifest(folder)
    repo.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-install-", dir=repo))
    try:
        for file in shipped.files:
            if file not in (MANIFEST, "model.py"):
                shutil.copy2(folder / file, staging / file)
        if (folder / MODEL_CARD).is_file():
            shutil.copy2(folder / MODEL_CARD, staging / MODEL_CARD)
        if _TRITON_MODEL_PY.is_file():
            shutil.copy2(_TRITON_MODEL_PY, staging / "model.py")
        fields = shipped.model_dump(exclude={"name", "version", "labels", "created_at", "files"})
        fields["source"] = f"shipped with finsent ({folder.name}; {MODEL_CARD})"
        fields["shipped_created_at"] = shipped.created_at
        return publish_version(repo, name, staging, fields).version
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_model(repo: Path, name: str, folder: Path = SHIPPED_MODEL) -> int:
    """The newest version of `repo/name`, installing the shipped model first when there is none.
    Under a lock in the repository, so scorers starting together install it once."""
    version = latest_version(repo, name)
    if version is not None:
        return version
    with exclusive(repo / _LOCK):
        version = latest_version(repo, name)  # another process may have installed it meanwhile
        if version is None:
            version = install_shipped_model(repo, name, folder)
            log.info("installed the shipped model as %s version %d", name, version)
            print(f"No model in {repo / name}: installed the shipped model as version {version}.", flush=True)
        return version
