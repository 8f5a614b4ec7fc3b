"""`finsent scheduler` as its own OS process, on a tiny model and a short interval: a run cut short
(SIGTERM or SIGKILL) is run again once at the next start; triggers missed while no scheduler ran
fire once, at once; two schedulers on one state folder never train at once, and the standby takes
over when the active one dies."""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("apscheduler")

from finsent.inference.model_repo import versions
from finsent.retrain.ledger import Run, RunLedger
from support.process import Process
from support.retraining import Workspace

pytestmark = pytest.mark.slow

NAME = "finsent_sentiment"


@pytest.fixture
def ws(ws: Workspace) -> Workspace:
    """The shared workspace (conftest), with one careful analyst's labels stored."""
    assert ws.finsent("labels", "import", str(ws.label_file("ana.csv", "ana"))).returncode == 0
    return ws


def scheduler(ws: Workspace, log: Path, **env: str) -> Process:
    settings = {"FINSENT_RETRAIN_INTERVAL": "10s", "FINSENT_RETRAIN_MIN_NEW_LABELS": "1", **env}
    return Process(ws.finsent_argv("scheduler"), log, env={**ws.env, **settings})


def runs(ws: Workspace) -> list[Run]:
    path = ws.state / "runs.db"
    return list(reversed(RunLedger(path).runs())) if path.exists() else []


def wait_for(what: str, check, timeout_s: float, *logs: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2500:]}" for p in logs if p.exists())
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_run_cut_short_is_run_again_once_at_the_next_start(ws: Workspace, tmp_path: Path, sig: int):
    slow = {"FINSENT_RETRAIN_EPOCHS": "60", "FINSENT_RETRAIN_LR": "0.0001"}
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = scheduler(ws, first_log, **slow)
    wait_for(
        "a scheduled run to be training",
        lambda: (ws.state / "work" / "run-1" / "student.partial").exists(),
        90,
        first_log,
    )
    time.sleep(1.0)
    first.signal(sig)
    first.wait(timeout=60)
    if sig == signal.SIGTERM:  # stopped cleanly: its report says so
        assert runs(ws)[0].outcome == "abandoned"
        assert "stopped before a decision" in (ws.state / "reports" / "run-1.md").read_text()
    else:  # killed: still marked running until the next run's start finds it
        assert runs(ws)[0].outcome == "running"
    assert versions(ws.repo, NAME) == []  # nothing promoted, not even half

    restarted = time.monotonic()
    second = scheduler(ws, second_log, FINSENT_RETRAIN_EPOCHS="6")
    try:
        wait_for(
            "the run to be redone", lambda: any(r.outcome == "promoted" for r in runs(ws)), 90, second_log
        )
        redo = next(r for r in runs(ws) if r.outcome == "promoted")
        assert redo.trigger == "schedule" and redo.id == 2
        assert "the last scheduled run did not finish: running it again now" in second_log.read_text()
        # Later triggers find no new labels: skipped, never a second trained run.
        wait_for("a later trigger", lambda: len(runs(ws)) >= 3, 40, second_log)
    finally:
        second.stop()
    outcomes = [r.outcome for r in runs(ws)]
    assert outcomes[0] == "abandoned" and outcomes[1] == "promoted"
    assert set(outcomes[2:]) == {"skipped"}
    assert versions(ws.repo, NAME) == [1]
    assert redo.started_at - (time.time() - (time.monotonic() - restarted)) < 20


def test_triggers_missed_while_down_fire_once_at_start(ws: Workspace, tmp_path: Path):
    every = {"FINSENT_RETRAIN_INTERVAL": "20s"}
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = scheduler(ws, first_log, **every)
    wait_for("the first run and one more trigger", lambda: len(runs(ws)) >= 2, 120, first_log)
    assert first.stop() == 0
    assert [r.outcome for r in runs(ws)][:2] == ["promoted", "skipped"]
    time.sleep(45)  # two triggers pass with no scheduler running
    assert ws.finsent("labels", "import", str(ws.label_file("bo.csv", "bo"))).returncode == 0
    before = len(runs(ws))
    started = time.time()
    second = scheduler(ws, second_log, **every)
    try:
        wait_for(
            "the missed trigger's run to finish",
            lambda: any(r.finished_at for r in runs(ws)[before:]),
            60,
            second_log,
        )
        after = runs(ws)[before:]
    finally:
        second.stop()
    # Fired at start (a scheduler that forgot its job would first fire a whole interval later), once
    # for both missed slots, not once per slot.
    early = [r for r in after if r.started_at - started < 12]
    assert len(early) == 1, [(r.outcome, r.started_at - started) for r in after]
    assert early[0].outcome in ("promoted", "rejected") and early[0].trigger == "schedule"


def test_two_schedulers_never_train_at_once_and_the_standby_takes_over(ws: Workspace, tmp_path: Path):
    env = {
        "FINSENT_RETRAIN_INTERVAL": "5s",
        "FINSENT_RETRAIN_MIN_NEW_LABELS": "0",
        "FINSENT_RETRAIN_EPOCHS": "2",
    }
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [scheduler(ws, log, **env) for log in logs]
    try:
        wait_for("three runs", lambda: len([r for r in runs(ws) if r.finished_at]) >= 3, 120, *logs)
        pids = {r.pid for r in runs(ws)}
        assert len(pids) == 1  # only the active scheduler trains
        active = next(i for i, p in enumerate(procs) if p.proc.pid in pids)
        standby = 1 - active
        assert "standby" in logs[standby].read_text()
        procs[active].kill()
        n = len(runs(ws))
        wait_for(
            "the standby to take over",
            lambda: any(r.pid == procs[standby].proc.pid and r.finished_at for r in runs(ws)[n:]),
            90,
            *logs,
        )
        assert "this one takes over" in logs[standby].read_text()
    finally:
        for p in procs:
            p.stop()
    done = sorted((r.started_at, r.finished_at or time.time()) for r in runs(ws))
    for (_, end), (start, _) in itertools.pairwise(done):
        assert start >= end - 0.01, "two runs overlapped"
