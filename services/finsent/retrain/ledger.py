"""The run ledger: one row per retraining run (SQLite), written at its start and at its end.

It is what makes runs observable and restartable: the scheduler's metrics are read from it, "new
labels since the last run" is counted against it, and a run that was still `running` when its
process died is found by the next run (which holds the run lock, so nobody else can be running) and
marked `abandoned`."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# How a run ended. `skipped`: too few new labels (the scheduler's threshold); nothing was trained.
PROMOTED, REJECTED, FAILED, ABANDONED, SKIPPED, RUNNING = (
    "promoted",
    "rejected",
    "failed",
    "abandoned",
    "skipped",
    "running",
)
OUTCOMES = (PROMOTED, REJECTED, FAILED, ABANDONED, SKIPPED)
COMPLETED = (PROMOTED, REJECTED)  # the run trained, evaluated and decided

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trigger TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT NOT NULL,
    reason TEXT,
    labels_total INTEGER NOT NULL DEFAULT 0,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)
"""
# A skipped run trains nothing and says only "too few new labels"; an hourly trigger makes thousands a
# year. The newest are kept as rows (they show the scheduler is alive); a counter keeps the total.
KEEP_SKIPPED = 100


@dataclass(frozen=True)
class Run:
    id: int
    trigger: str
    pid: int
    started_at: float
    finished_at: float | None
    outcome: str
    reason: str | None
    labels_total: int
    details: dict[str, Any]

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


class RunLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        # A connection per call: the ledger is written by runs and read by a metrics scrape, on
        # different threads; each call commits (or rolls back) on its own.
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            yield db

    def start(self, trigger: str, labels_total: int) -> int:
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO runs (trigger, pid, started_at, outcome, labels_total) VALUES (?, ?, ?, ?, ?)",
                (trigger, os.getpid(), time.time(), RUNNING, labels_total),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def finish(self, run_id: int, outcome: str, reason: str, details: dict[str, Any] | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        with self._db() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, outcome = ?, reason = ?, details = ? WHERE id = ?",
                (time.time(), outcome, reason, json.dumps(details or {}, default=str), run_id),
            )
            if outcome == SKIPPED:
                db.execute(
                    "INSERT INTO counters (name, value) VALUES (?, 1) "
                    "ON CONFLICT (name) DO UPDATE SET value = value + 1",
                    (SKIPPED,),
                )
                db.execute(
                    "DELETE FROM runs WHERE outcome = ? AND id NOT IN "
                    "(SELECT id FROM runs WHERE outcome = ? ORDER BY id DESC LIMIT ?)",
                    (SKIPPED, SKIPPED, KEEP_SKIPPED),
                )

    def abandon_unfinished(self) -> list[int]:
        """Mark runs still `running` as abandoned. Call only while holding the run lock: then no run
        is in progress, and these are runs whose process died."""
        with self._db() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM runs WHERE outcome = ?", (RUNNING,))]
            db.execute(
                "UPDATE runs SET outcome = ?, finished_at = ?, reason = ? WHERE outcome = ?",
                (ABANDONED, time.time(), "the process running it stopped before it finished", RUNNING),
            )
        return ids

    def runs(self, limit: int | None = None) -> list[Run]:
        """Newest first."""
        query = "SELECT * FROM runs ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self._db() as db:
            db.row_factory = sqlite3.Row
            rows = list(db.execute(query))
        return [
            Run(
                id=r["id"],
                trigger=r["trigger"],
                pid=r["pid"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                outcome=r["outcome"],
                reason=r["reason"],
                labels_total=r["labels_total"],
                details=json.loads(r["details"] or "{}"),
            )
            for r in rows
        ]

    def last(self, outcomes: tuple[str, ...]) -> Run | None:
        return next((r for r in self.runs() if r.outcome in outcomes), None)

    def counts(self) -> dict[str, int]:
        """Runs by outcome since the ledger began (skipped ones from their counter: see KEEP_SKIPPED)."""
        with self._db() as db:
            found = dict(db.execute("SELECT outcome, COUNT(*) FROM runs GROUP BY outcome").fetchall())
            skipped = db.execute("SELECT value FROM counters WHERE name = ?", (SKIPPED,)).fetchone()
        found[SKIPPED] = skipped[0] if skipped else 0
        return {o: int(found.get(o, 0)) for o in OUTCOMES}

    def consecutive_failures(self) -> int:
        return consecutive_failures(self.runs())


def consecutive_failures(runs: list[Run]) -> int:
    """Failed runs (newest first) since the last one that did not fail; skipped and running ones
    neither count nor break the streak."""
    n = 0
    for run in runs:
        if run.outcome in (RUNNING, SKIPPED):
            continue
        if run.outcome != FAILED:
            break
        n += 1
    return n
