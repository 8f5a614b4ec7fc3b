"""Shared fixtures: a real Kafka broker (started here when not running) and an exported model."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.broker import broker_for
from support.retraining import Workspace, make_workspace

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a single-node KRaft broker on 127.0.0.1, via deploy/kafka/kafka.sh: on free
    ports for this run, or on FINSENT_TEST_KAFKA_PORT (started if needed, left running if it was)."""
    broker = broker_for(tmp_path_factory.getbasetemp(), "FINSENT_TEST_KAFKA_PORT", "test-kafka")
    # Under pytest-xdist every worker runs this fixture: on free ports each starts its own broker; on
    # a fixed port they share one, started by the first under a lock and left running (a worker that
    # stopped it would pull it from under the others).
    shared = bool(os.environ.get("FINSENT_TEST_KAFKA_PORT")) and "PYTEST_XDIST_WORKER" in os.environ
    broker.dir.parent.mkdir(parents=True, exist_ok=True)
    with open(broker.dir.parent / f".{broker.dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        was_running = broker.running()
        broker.run("start")
    yield broker.bootstrap
    if not was_running and not shared:
        broker.run("stop")


@pytest.fixture(scope="session")
def model_repo() -> Path:
    """A model repository holding the demo model (fine-tuned once per machine, then reused)."""
    from finsent.demo.model import ensure_demo_model

    repo = CACHE / "test-model-repo"
    ensure_demo_model(repo, "finsent_sentiment")
    return repo


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tiny BERT of the retraining tests lives (built by the first workspace, then reused)."""
    return tmp_path_factory.mktemp("bases") / "tiny-bert"


@pytest.fixture
def ws(tmp_path: Path, tiny_base: Path) -> Workspace:
    """A retraining workspace (support/retraining.py): tiny base, golden set, labels to import."""
    return make_workspace(tmp_path / "ws", tiny_base)
