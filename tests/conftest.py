"""Shared fixtures: a real Kafka broker (started here when not running) and an exported model."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """Bootstrap address of a single-node KRaft broker on 127.0.0.1, via deploy/kafka/kafka.sh."""
    port = os.environ.get("FINSENT_TEST_KAFKA_PORT", "39092")
    env = {**os.environ, "FINSENT_KAFKA_PORT": port, "FINSENT_KAFKA_DIR": str(CACHE / f"test-kafka-{port}")}
    script = REPO / "deploy" / "kafka" / "kafka.sh"
    was_running = subprocess.run([script, "status"], env=env, capture_output=True).returncode == 0
    subprocess.run([script, "start"], env=env, check=True)
    yield f"127.0.0.1:{port}"
    if not was_running:
        subprocess.run([script, "stop"], env=env, check=False)


@pytest.fixture(scope="session")
def model_repo() -> Path:
    """A model repository holding the demo model (fine-tuned once per machine, then reused)."""
    from finsent.demo.model import ensure_demo_model

    repo = CACHE / "test-model-repo"
    ensure_demo_model(repo, "finsent_sentiment")
    return repo
