"""Locks between processes: try_exclusive refuses at once and names the holder; exclusive waits its
turn; a holder that dies releases its lock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finsent.locks import LockBusy, exclusive, try_exclusive

HOLD = (
    "import sys, time; from pathlib import Path; from finsent.locks import exclusive\n"
    "with exclusive(Path(sys.argv[1])):\n"
    "    print('held', flush=True); time.sleep(float(sys.argv[2]))\n"
)


def holder(lock: Path, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_try_exclusive_refuses_at_once_and_names_the_holder(tmp_path: Path):
    lock = tmp_path / "x.lock"
    with try_exclusive(lock, "the test lock"):
        code = (
            "import sys; from pathlib import Path; from finsent.locks import try_exclusive, LockBusy\n"
            "try:\n    with try_exclusive(Path(sys.argv[1]), 'the test lock'): sys.exit(0)\n"
            "except LockBusy as e:\n    print(e); sys.exit(3)\n"
        )
        r = subprocess.run([sys.executable, "-c", code, str(lock)], capture_output=True, text=True)
        assert r.returncode == 3 and f"pid {os.getpid()}" in r.stdout and "the test lock" in r.stdout
    with try_exclusive(lock, "the test lock"):  # released: taken again
        pass
    # flock locks belong to the open file: a second open in the same process is refused too.
    with pytest.raises(LockBusy), try_exclusive(lock, "outer"), try_exclusive(lock, "inner"):
        pass


def test_exclusive_waits_for_the_holder_to_finish(tmp_path: Path):
    lock = tmp_path / "deep" / "build.lock"  # its folder is made
    p = holder(lock, 1.5)
    started = time.monotonic()
    with exclusive(lock):
        waited = time.monotonic() - started
    p.wait(timeout=30)
    assert waited >= 1.0  # got it only once the holder's 1.5 s were (nearly) over


def test_a_holder_that_dies_releases_the_lock(tmp_path: Path):
    lock = tmp_path / "x.lock"
    p = holder(lock, 60)
    with pytest.raises(LockBusy), try_exclusive(lock, "the build lock"):
        pass
    p.kill()
    p.wait()
    with try_exclusive(lock, "the build lock"):
        pass
