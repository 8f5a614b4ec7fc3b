"""A real single-node Kafka broker for the tests, started and stopped through deploy/kafka/kafka.sh.

Ports are picked per run, below the kernel's ephemeral range: a fixed port (the suite used 39092)
collides with any other broker on the machine, such as a second checkout running its suite at the
same time, and a port inside the ephemeral range can be taken at random by an outgoing connection.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "kafka" / "kafka.sh"

# Below Linux's default ephemeral range (32768–60999), above the well-known and registered ports
# that a developer's machine commonly listens on.
_PORT_RANGE = (20000, 32000)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int = 2, tries: int = 200) -> int:
    """A port p such that p … p + count - 1 are all free on 127.0.0.1 (a broker takes p, its KRaft
    controller p + 1, a secured broker's SASL_SSL and mutual-TLS listeners p + 2 and p + 3)."""
    rng = random.Random()
    for _ in range(tries):
        port = rng.randrange(*_PORT_RANGE)
        if all(_bindable(port + i) for i in range(count)):
            return port
    raise RuntimeError(f"no {count} free ports in a row in {_PORT_RANGE} after {tries} tries")


class Broker:
    """One broker: its port, its data folder and the kafka.sh verbs.

    A verb that fails fails the test with kafka.sh's own message and the broker log's tail, so a CI
    report says why (a taken port, a failed fetch, a JVM that would not start), not just "exit 1".
    """

    def __init__(self, port: int, data_dir: Path, *, heap: str = "512m", secured: bool = False) -> None:
        self.port = port
        self.dir = data_dir
        self.env = {
            **os.environ,
            "FINSENT_KAFKA_PORT": str(port),
            "FINSENT_KAFKA_DIR": str(data_dir),
            "FINSENT_KAFKA_HEAP": heap,
            "FINSENT_KAFKA_SECURED": "1" if secured else "0",
        }

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT listener (every broker has one; a secured broker's is for test set-up)."""
        return f"127.0.0.1:{self.port}"

    # A secured broker (kafka.sh with FINSENT_KAFKA_SECURED=1):
    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.port + 2}"

    @property
    def mtls_bootstrap(self) -> str:
        return f"127.0.0.1:{self.port + 3}"

    @property
    def secrets(self) -> Path:
        """sasl-password (user "finsent"), and tls/: ca.pem, client.pem, client.key, store-password."""
        return self.dir / "secrets"

    def running(self) -> bool:
        return subprocess.run([SCRIPT, "status"], env=self.env, capture_output=True).returncode == 0

    def run(self, verb: str) -> None:
        done = subprocess.run([SCRIPT, verb], env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            log = self.dir / "kafka.log"
            lines = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else ["(no log)"]
            tail = "\n".join(lines)
            pytest.fail(
                f"kafka.sh {verb} failed (exit {done.returncode}) on port {self.port}:\n"
                f"{done.stdout}{done.stderr}\n--- last lines of {log} ---\n{tail}",
                pytrace=False,
            )


def broker_for(tmp_root: Path, env_port: str, name: str, *, heap: str = "512m") -> Broker:
    """The broker a fixture should use: the port in the environment variable `env_port` when set (a
    developer's long-running broker, reused and left running), else a fresh one on free ports."""
    fixed = os.environ.get(env_port)
    if fixed:
        return Broker(int(fixed), REPO / ".cache" / f"{name}-{fixed}", heap=heap)
    port = free_ports(2)
    return Broker(port, tmp_root / f"{name}-{port}", heap=heap)


def secured_broker(tmp_root: Path) -> Broker:
    """A fresh broker with SASL_SSL and mutual-TLS listeners beside its PLAINTEXT one."""
    port = free_ports(4)
    return Broker(port, tmp_root / f"secured-kafka-{port}", heap="384m", secured=True)
