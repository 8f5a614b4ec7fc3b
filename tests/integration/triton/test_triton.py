"""The Triton backend against a real local Triton Inference Server (CPU, Python backend), and the
scorer on real Kafka through it: same scores as the embedded backend, a version promoted mid-stream,
Triton killed mid-stream."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from finsent.app.wiring import bundled_feed
from finsent.contracts.event_type import EVENT_TYPES
from finsent.contracts.news import ScoredItem
from finsent.inference.backend import BackendUnavailable
from finsent.inference.embedded import EmbeddedBackend
from finsent.inference.model_repo import latest_version
from support.kafka import Scorer, committed_total, consume, fresh_topics, news, produce, wait_committed
from support.stack import free_port

pytest.importorskip("tritonclient.grpc")
pytest.importorskip("pytriton")

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "deploy" / "triton" / "triton.sh"
NAME = "finsent_sentiment"


class LocalTriton:
    def __init__(self, model_repo: Path, workdir: Path, tls_dir: Path | None = None) -> None:
        self.grpc = free_port()
        self.tls_dir = tls_dir
        self.env = {
            **os.environ,
            "FINSENT_MODEL_REPO": str(model_repo),
            "FINSENT_TRITON_HTTP_PORT": str(free_port()),
            "FINSENT_TRITON_GRPC_PORT": str(self.grpc),
            "FINSENT_TRITON_METRICS_PORT": str(free_port()),
            "FINSENT_TRITON_DIR": str(workdir),
            "FINSENT_TRITON_POLL_S": "1",
            "FINSENT_VENV": str(Path(os.sys.executable).parents[1]),
        }
        if tls_dir is not None:  # gRPC over TLS, with a certificate for 127.0.0.1 (test-certs.sh)
            self.env["FINSENT_TRITON_GRPC_CERT"] = str(tls_dir / "broker.pem")
            self.env["FINSENT_TRITON_GRPC_KEY"] = str(tls_dir / "broker.key")
        self.url = f"127.0.0.1:{self.grpc}"
        self.metrics_port = self.env["FINSENT_TRITON_METRICS_PORT"]
        self.workdir = workdir

    def start(self) -> None:
        subprocess.run([SCRIPT, "start"], env=self.env, check=True)
        deadline = time.monotonic() + 60
        import tritonclient.grpc as g

        tls = {"ssl": True, "root_certificates": str(self.tls_dir / "ca.pem")} if self.tls_dir else {}
        client = g.InferenceServerClient(self.url, **tls)
        while time.monotonic() < deadline:
            try:
                if client.is_model_ready(NAME):
                    return
            except Exception:
                pass
            time.sleep(0.3)
        raise TimeoutError((self.workdir / "triton.log").read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL the server and its Python-backend stubs (its process group: triton.sh starts it
        with setsid), as a crash of the whole host process would."""
        pid = int((self.workdir / "triton.pid").read_text())
        os.killpg(pid, signal.SIGKILL)
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def stop(self) -> None:
        subprocess.run([SCRIPT, "stop"], env=self.env, check=False)


def add_version(repo: Path, source: Path) -> int:
    """Promote a version into the served repository the way a retraining run does (retrain.promote:
    copied aside inside the repository, published as the next version with one rename)."""
    from finsent.retrain.promote import republish

    return republish(source, repo, NAME, {"lineage": {"parent_version": latest_version(repo, NAME)}}).version


@pytest.fixture(scope="module")
def served(model_repo, tmp_path_factory):
    """A model repository with one version, served by a local Triton."""
    from finsent.demo.model import ensure_demo_checkpoint
    from finsent.training.export import export

    repo = tmp_path_factory.mktemp("triton-repo")
    (repo / NAME).mkdir()
    shutil.copy2(REPO / "model_repo" / NAME / "config.pbtxt", repo / NAME / "config.pbtxt")
    # fp32: with dynamic int8 quantisation a text's scores depend slightly on which texts share its
    # batch (activation scales are per batch), and Triton batches requests its own way.
    export(ensure_demo_checkpoint(), repo, NAME, fmt="onnx")
    source = repo / NAME / "1"
    triton = LocalTriton(repo, tmp_path_factory.mktemp("triton-run"))
    triton.start()
    yield {"repo": repo, "triton": triton, "source": source}
    triton.stop()


def feed_texts(n: int) -> list[str]:
    out = []
    for line in bundled_feed().read_text().splitlines():
        try:
            text = json.loads(line)["text"]
        except (json.JSONDecodeError, KeyError):
            continue
        if text.strip():  # the feed's deliberately blank item would be dead-lettered
            out.append(text)
    return out[:n]


def test_triton_scores_equal_embedded(served):
    """Same fp32 version, same texts: Triton's probabilities equal the embedded backend's."""
    from finsent.inference.triton_backend import TritonBackend

    texts = feed_texts(300)
    triton = TritonBackend(served["triton"].url, NAME, served["repo"], connect_wait_s=10)
    embedded = EmbeddedBackend(served["repo"], NAME, poll_s=0)
    t, e = triton.score(texts), embedded.score(texts)
    assert t.model == e.model
    np.testing.assert_allclose(t.probs, e.probs, atol=1e-5)
    # The demo model has an event-type head: Triton returns its output too, equal to the embedded one.
    assert e.event_probs is not None and t.event_probs is not None
    assert t.event_labels == e.event_labels and len(t.event_labels) == 20
    np.testing.assert_allclose(t.event_probs, e.event_probs, atol=1e-5)
    assert triton.max_batch == 128
    triton.close()


def test_triton_over_tls_scores_and_an_untrusted_certificate_is_named(served, tmp_path):
    """gRPC over TLS to a real Triton: the scorer's backend verifies the server against the CA it is
    given and scores as over plaintext; with another CA it stops with the setting to fix."""
    from finsent.inference.triton_backend import TritonBackend, TritonTLS

    tls_dir = tmp_path / "tls"
    subprocess.run([REPO / "deploy" / "kafka" / "test-certs.sh", tls_dir], check=True)
    other = tmp_path / "other-tls"
    subprocess.run([REPO / "deploy" / "kafka" / "test-certs.sh", other], check=True)
    triton = LocalTriton(served["repo"], tmp_path / "run", tls_dir=tls_dir)
    triton.start()
    try:
        texts = feed_texts(40)
        secure = TritonBackend(
            triton.url, NAME, served["repo"], connect_wait_s=10, tls=TritonTLS(tls_dir / "ca.pem")
        )
        plain = TritonBackend(served["triton"].url, NAME, served["repo"], connect_wait_s=10)
        np.testing.assert_allclose(secure.score(texts).probs, plain.score(texts).probs, atol=1e-5)
        secure.close()
        plain.close()
        with pytest.raises(BackendUnavailable, match="FINSENT_TRITON_SSL_CAFILE"):
            TritonBackend(triton.url, NAME, served["repo"], connect_wait_s=2, tls=TritonTLS(other / "ca.pem"))
        with pytest.raises(BackendUnavailable, match="not reachable"):  # a plaintext client on the TLS port
            TritonBackend(triton.url, NAME, served["repo"], connect_wait_s=2)
    finally:
        triton.stop()


def test_unreachable_triton_is_a_clear_error():
    from finsent.inference.triton_backend import TritonBackend

    with pytest.raises(BackendUnavailable, match="not reachable"):
        TritonBackend(f"127.0.0.1:{free_port()}", NAME, Path("."), connect_wait_s=1)


def test_contract_mismatch_fails_clearly(served):
    from finsent.inference.triton_backend import TritonBackend, TritonContractError

    class WrongInputs(TritonBackend):
        def _check_contract(self, wait_s):  # the real check, on metadata with a renamed input
            original = self._client.get_model_metadata

            def renamed(name, as_json=False):
                meta = original(name, as_json=True)
                meta["inputs"][0]["name"] = "token_ids"
                return meta

            self._client.get_model_metadata = renamed
            return super()._check_contract(wait_s)

    with pytest.raises(TritonContractError, match="inputs"):
        WrongInputs(served["triton"].url, NAME, served["repo"], connect_wait_s=5)


def test_circuit_breaker_opens_and_half_opens():
    from finsent.inference.triton_backend import CircuitBreaker

    b = CircuitBreaker(failures=2, reset_s=0.2)
    b.failure()
    assert b.allow()
    b.failure()
    assert b.open and not b.allow()
    time.sleep(0.25)
    assert b.allow()  # one trial
    b.success()
    assert not b.open


@pytest.mark.kafka
def test_new_version_mid_stream_and_triton_killed_mid_stream(kafka, served, tmp_path):
    topics = fresh_topics(kafka)
    ids = [f"tr{i}" for i in range(1500)]
    texts = feed_texts(500)
    items = [news(i, texts[n % len(texts)]) for n, i in enumerate(ids)]
    # In three parts, so that records are waiting at each event however fast the scorer is.
    produce(kafka, topics.news, items[:600])
    triton = served["triton"]
    scorer = Scorer(
        kafka,
        topics,
        served["repo"],
        "--triton",
        triton.url,
        "--max-batch",
        "64",
        "--triton-timeout-s",
        "2",
        "--triton-retries",
        "1",
        log=tmp_path / "scorer.log",
    )
    try:
        assert wait_committed(kafka, topics.group, topics.news, 300, 120) >= 300, scorer.output()[-2000:]
        # 1. A new version is promoted while the stream runs.
        new_version = add_version(served["repo"], served["source"])
        produce(kafka, topics.news, items[600:900])
        time.sleep(4)  # Triton polls every second and loads it
        # 2. Triton dies mid-stream: nothing may be committed unscored while it is down.
        triton.kill()
        produce(kafka, topics.news, items[900:])
        time.sleep(1.5)
        committed_down = committed_total(kafka, topics.group, topics.news)
        produced_down = len(consume(kafka, topics.scored, expect=committed_down, timeout_s=10, settle_s=1))
        time.sleep(4)
        assert committed_total(kafka, topics.group, topics.news) == committed_down  # stopped consuming
        assert committed_down <= produced_down < len(ids)
        triton.start()
        scored = consume(kafka, topics.scored, expect=len(ids), timeout_s=180, settle_s=3)
    finally:
        scorer.stop()
    items = [ScoredItem.model_validate_json(r.value) for r in scored]
    assert {i.id for i in items} == set(ids), f"missing {len(set(ids) - {i.id for i in items})}"
    versions = Counter(i.model.version for i in items)
    assert set(versions) == {"1", str(new_version)}, versions
    # Both versions have the event-type head: every item says what it is about, through Triton.
    assert all(i.event_type in EVENT_TYPES and 0 < (i.event_prob or 0) <= 1 for i in items)
    assert not consume(kafka, topics.dlq, expect=1, timeout_s=3, settle_s=0)
    log = scorer.output()
    assert "backend unavailable" in log  # it noticed, paused, and came back


def test_a_version_without_an_event_head_is_served_then_one_with_it(served, tmp_path):
    """The model config declares both outputs; a sentiment-only version (an older model, or a
    rollback to one) is still served and scored, without event types, and the next two-head version
    brings them back, both through the real Triton."""
    from finsent.demo.model import DEMO_TRAIN
    from finsent.inference.triton_backend import TritonBackend
    from finsent.training.data import load
    from finsent.training.export import export
    from finsent.training.train import TrainConfig, train
    from support.tiny_models import tiny_bert_base

    examples, _ = load([DEMO_TRAIN])
    one_head = tmp_path / "one-head"
    train(
        examples[:60],
        one_head,
        TrainConfig(
            base=tiny_bert_base(tmp_path / "tiny"), epochs=1, max_steps=2, batch_size=16, progress=False
        ),
    )
    staging = tmp_path / "staging"
    version = export(one_head, staging, NAME, fmt="onnx")["version"]
    single = add_version(served["repo"], staging / NAME / str(version))
    triton = TritonBackend(served["triton"].url, NAME, served["repo"], connect_wait_s=10)
    texts = feed_texts(40)
    deadline = time.monotonic() + 30
    while triton.score(texts[:1]).model.version != str(single) and time.monotonic() < deadline:
        time.sleep(0.5)
    t = triton.score(texts)
    e = EmbeddedBackend(served["repo"], NAME, poll_s=0).score(texts)
    assert t.model.version == e.model.version == str(single)
    assert t.event_probs is None and e.event_probs is None and t.event_labels == ()
    np.testing.assert_allclose(t.probs, e.probs, atol=1e-5)

    both = add_version(served["repo"], served["source"])  # the two-head demo version again
    deadline = time.monotonic() + 30
    while triton.score(texts[:1]).model.version != str(both) and time.monotonic() < deadline:
        time.sleep(0.5)
    t = triton.score(texts)
    assert t.model.version == str(both)
    assert t.event_probs is not None and t.event_probs.shape == (len(texts), 20)
    triton.close()
