"""The process pool the GPU studies share: runs side by side on one accelerator, each in a spawned
process, under a time budget; a failed run is recorded and the others go on."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any


def machine() -> dict[str, Any]:
    import torch

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
    }


def spawn_pool(workers: int) -> ProcessPoolExecutor:
    # Spawned, not forked: each run initialises its own torch and CUDA.
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def run_jobs(
    pool: ProcessPoolExecutor,
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    jobs: list[dict[str, Any]],
    *,
    workers: int,
    start_until: float,
    on_result: Callable[[dict[str, Any]], None],
    failures: list[str],
    save: Callable[[], None],
    deadline: float | None = None,
) -> None:
    """`fn` on every job, at most `workers` at a time; no job starts after `start_until`
    (time.monotonic). Each result goes to `on_result` as it comes; a failed run is recorded in
    `failures` and the others go on; `save` follows every finished run. Past `deadline`, runs still
    going are abandoned and what is measured is kept."""
    pending: set[Future] = set()
    queue = list(jobs)
    while queue or pending:
        while queue and len(pending) < workers and time.monotonic() < start_until:
            pending.add(pool.submit(fn, queue.pop(0)))
        if not pending:
            break
        timeout = None if deadline is None else max(1.0, deadline - time.monotonic())
        done, pending = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:  # the whole budget is spent: keep what is measured
            for f in pending:
                f.cancel()
            return
        for f in done:
            try:
                on_result(f.result())
            except Exception as exc:  # recorded; the others go on
                failures.append(f"{type(exc).__name__}: {exc}")
                print("run failed:", failures[-1], flush=True)
            save()
