"""Locks between processes on one host: an exclusive `flock` on a file, held for a `with` block.

One home for the pattern that installing the shipped model, building the demo model, the label
store, the retraining run and the scheduler all need. The kernel releases a lock when its holder
exits or dies, so a crash never leaves one stuck and there is nothing to clean up."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LockBusy", "exclusive", "try_exclusive"]


class LockBusy(RuntimeError):
    """Another process holds the lock."""


@contextmanager
def _lock_file(path: Path) -> Iterator[int]:
    """The lock file's descriptor (the file and its folder created if missing), closed after the
    block: closing it releases any lock taken on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Waits for the lock on `path` and holds it for the block: processes doing the same one-time
    work take turns, and the later ones find it done."""
    with _lock_file(path) as fd:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield


@contextmanager
def try_exclusive(path: Path, what: str) -> Iterator[None]:
    """Holds the lock on `path` for the block, or raises LockBusy at once if another process holds
    it. The holder's pid is written into the file, for the message the next one gets."""
    with _lock_file(path) as fd:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LockBusy(f"{what} is held by another process (pid {holder}; lock {path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
