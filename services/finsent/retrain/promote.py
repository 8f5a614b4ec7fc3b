"""Promotion, rollback and pruning of versions in the live model repository.

Promotion and rollback are one operation: copy a version's files aside inside the repository, then
publish them as the next version number with one rename (model_repo.publish_version). Every scorer
follows the newest complete version (the embedded backend's poller, Triton's poll mode with the
`latest` version policy), so both reach every scorer the same way, and a batch in flight finishes
on the version it started with. A rollback is therefore a new, higher version that carries the old
weights and says so in its manifest."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from finsent.inference.model_repo import (
    MANIFEST,
    Manifest,
    latest_version,
    publish_version,
    read_manifest,
    version_dir,
    versions,
)

# Manifest fields that are the publication's own, not carried over from the copied version.
_OWN = ("name", "version", "created_at", "files", "labels")


class RollbackError(RuntimeError):
    pass


def republish(source: Path, repo: Path, name: str, extra: dict[str, Any]) -> Manifest:
    """Publish a copy of the version folder `source` as the next version of `name` in `repo`, with
    its manifest's fields plus `extra`."""
    fields = {k: v for k, v in read_manifest(source).model_dump().items() if k not in _OWN}
    repo.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-publish-", dir=repo))
    try:
        for f in source.iterdir():
            if f.is_file() and f.name != MANIFEST:
                shutil.copy2(f, staging / f.name)
        return publish_version(repo, name, staging, {**fields, **extra})
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def rollback(repo: Path, name: str, to: int | None = None) -> Manifest:
    """Serve an earlier version again: `to`, else the serving version's parent (the version it
    replaced), else the newest version below it."""
    serving = latest_version(repo, name)
    if serving is None:
        raise RollbackError(f"{repo / name}: no version to roll back from")
    available = versions(repo, name)
    if to is None:
        parent = read_manifest(version_dir(repo, name, serving)).model_dump().get("lineage", {})
        to = parent.get("parent_version") if isinstance(parent, dict) else None
        if to not in available:
            older = [v for v in available if v < serving]
            if not older:
                raise RollbackError(f"{name} has no version older than {serving} to roll back to")
            to = older[-1]
    if to not in available:
        raise RollbackError(
            f"{name} version {to} is not in {repo / name} (kept: {', '.join(map(str, available))})"
        )
    if to == serving:
        raise RollbackError(f"{name} version {to} is already serving")
    source = version_dir(repo, name, to)
    old = read_manifest(source).model_dump().get("lineage")
    lineage = {
        **(old if isinstance(old, dict) else {}),  # what the weights are: their data, recipe, golden F1
        "parent_version": serving,
        "rollback_of": to,
    }
    return republish(source, repo, name, {"lineage": lineage, "rollback_of": to})


def prune(repo: Path, name: str, keep: int) -> list[int]:
    """Remove all but the newest `keep` versions; returns the removed version numbers. The serving
    version is the newest, so it is always kept."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    old = versions(repo, name)[:-keep]
    for v in old:
        folder = version_dir(repo, name, v)
        # Rename first: a reader sees the version whole or not at all, never a half-deleted folder.
        doomed = folder.with_name(f".{v}-removed")
        folder.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    return old
