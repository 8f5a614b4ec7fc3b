"""The Triton backend: scores through NVIDIA Triton Inference Server over gRPC (`tritonclient`).

Tokenisation stays in the scorer (the served version's tokenizer.json from the shared model
repository); Triton runs the model. A micro-batch is split into chunks of at most the model's
`max_batch_size`, sent with several requests in flight, each with a timeout and bounded retries
with backoff. A circuit breaker stops calling a server that keeps failing; while it is open, or when
retries are spent, `score` raises `BackendUnavailable` and the pipeline commits nothing, re-reads the
batch and reports not-ready until Triton answers again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finsent.contracts.news import DEFAULT_MAX_LENGTH, LABELS, ModelRef
from finsent.inference.backend import BackendUnavailable, ScoreResult, softmax
from finsent.inference.model_repo import read_manifest, version_dir
from finsent.inference.tokenize import Chunk, TextEncoder

log = logging.getLogger(__name__)


class TritonContractError(RuntimeError):
    """The served model does not have FinSent's input/output contract."""


class CircuitBreaker:
    """Opens after `failures` consecutive failures; after `reset_s` lets one trial call through."""

    def __init__(self, failures: int = 3, reset_s: float = 5.0) -> None:
        self._threshold, self._reset = failures, reset_s
        self._failures = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            return time.monotonic() - self._opened_at >= self._reset  # half-open: one trial

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at = 0, None

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self._threshold:
                self._opened_at = time.monotonic()

    @property
    def open(self) -> bool:
        return self._opened_at is not None


@dataclass(frozen=True)
class TritonTLS:
    """TLS for the gRPC connection to Triton: the CA that signed the server's certificate (default:
    the system's), and a client certificate and key for mutual TLS. Paths, read by gRPC."""

    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None

    def client_kwargs(self) -> dict[str, object]:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError(
                "Triton mutual TLS needs both FINSENT_TRITON_SSL_CERTFILE and FINSENT_TRITON_SSL_KEYFILE"
            )
        for path in (self.cafile, self.certfile, self.keyfile):
            if path is not None and not path.is_file():
                raise ValueError(f"Triton TLS: no readable file at {path}")
        return {
            "ssl": True,
            "root_certificates": str(self.cafile) if self.cafile else None,
            "private_key": str(self.keyfile) if self.keyfile else None,
            "certificate_chain": str(self.certfile) if self.certfile else None,
        }


class TritonBackend:
    def __init__(
        self,
        url: str,
        model_name: str,
        model_repo: Path,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.2,
        concurrency: int = 4,
        breaker: CircuitBreaker | None = None,
        connect_wait_s: float = 30.0,
        tls: TritonTLS | None = None,
    ) -> None:
        import tritonclient.grpc as grpcclient

        self._grpc = grpcclient
        self._url, self._name, self._repo = url, model_name, model_repo
        self._max_length, self._timeout, self._retries, self._backoff = (
            max_length,
            timeout_s,
            retries,
            backoff_s,
        )
        self._tls = tls
        self._client = grpcclient.InferenceServerClient(url, **(tls.client_kwargs() if tls else {}))
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="triton")
        self.breaker = breaker or CircuitBreaker()
        self.max_batch = self._check_contract(connect_wait_s)
        self._encoders: dict[str, TextEncoder] = {}
        self._event_labels: dict[str, tuple[str, ...]] = {}
        self._version = self._served_version()

    # -- start-up checks -------------------------------------------------------------------------
    def _check_contract(self, wait_s: float) -> int:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if self._client.is_model_ready(self._name):
                    break
                problem = f"model {self._name!r} is not ready on Triton at {self._url}"
            except Exception as exc:  # tritonclient raises its own error types
                problem = f"Triton at {self._url} is not reachable ({exc})"
                if self._tls is not None:
                    problem += (
                        "; over TLS: check FINSENT_TRITON_SSL_CAFILE (the CA of Triton's certificate), "
                        "the client certificate for mutual TLS, and that Triton's gRPC port uses TLS"
                    )
            if time.monotonic() >= deadline:
                raise BackendUnavailable(problem)
            time.sleep(0.5)
        meta = self._client.get_model_metadata(self._name, as_json=True)
        config = self._client.get_model_config(self._name, as_json=True)["config"]
        inputs = {i["name"]: i["datatype"] for i in meta.get("inputs", [])}
        outputs = {o["name"]: o for o in meta.get("outputs", [])}
        want = {"input_ids": "INT64", "attention_mask": "INT64"}
        if inputs != want:
            raise TritonContractError(f"{self._name}: inputs {inputs}, expected {want}")
        logits = outputs.get("logits")
        if logits is None or logits["datatype"] != "FP32" or str(logits["shape"][-1]) != str(len(LABELS)):
            raise TritonContractError(
                f"{self._name}: output 'logits' FP32 [..., {len(LABELS)}] expected, got {outputs}"
            )
        events = outputs.get("event_logits")
        if events is not None and events["datatype"] != "FP32":
            raise TritonContractError(f"{self._name}: output 'event_logits' must be FP32, got {events}")
        self._serves_events = events is not None
        max_batch = int(config.get("max_batch_size", 0))
        if max_batch < 1:
            raise TritonContractError(
                f"{self._name}: max_batch_size must be >= 1 (batching on), got {max_batch}"
            )
        return max_batch

    def _served_version(self) -> str:
        versions = self._client.get_model_metadata(self._name, as_json=True).get("versions", [])
        return max(versions, key=int) if versions else "0"

    def _encoder(self, version: str) -> TextEncoder:
        encoder = self._encoders.get(version)
        if encoder is None:
            path = version_dir(self._repo, self._name, int(version)) / "tokenizer.json"
            if not path.is_file():
                raise TritonContractError(
                    f"{path} not found: the scorer needs the served version's tokenizer "
                    f"(point --model-repo at the repository Triton serves)"
                )
            encoder = self._encoders[version] = TextEncoder(path, self._max_length)
        return encoder

    def _events_of(self, version: str) -> tuple[str, ...]:
        """The served version's event labels (empty: no event head), from its manifest."""
        labels = self._event_labels.get(version)
        if labels is None:
            folder = version_dir(self._repo, self._name, int(version))
            labels = tuple(read_manifest(folder).event_labels or ()) if self._serves_events else ()
            self._event_labels[version] = labels
        return labels

    # -- scoring ---------------------------------------------------------------------------------
    @property
    def model(self) -> ModelRef:
        return ModelRef(name=self._name, version=self._version)

    def _infer(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray | None, str]:
        g = self._grpc
        ids = g.InferInput("input_ids", list(chunk.input_ids.shape), "INT64")
        ids.set_data_from_numpy(chunk.input_ids)
        mask = g.InferInput("attention_mask", list(chunk.attention_mask.shape), "INT64")
        mask.set_data_from_numpy(chunk.attention_mask)
        delay = self._backoff
        for attempt in range(self._retries + 1):
            if not self.breaker.allow():
                raise BackendUnavailable(f"circuit open: Triton at {self._url} keeps failing")
            try:
                # No outputs named: Triton returns what the version produces, `logits` and, from a
                # two-head version, `event_logits`. Naming `event_logits` would fail on a one-head
                # version that Triton switched to under us (a rollback).
                result = self._client.infer(self._name, [ids, mask], client_timeout=self._timeout)
            except Exception as exc:
                self.breaker.failure()
                if attempt == self._retries:
                    raise BackendUnavailable(
                        f"Triton inference failed after {attempt + 1} tries: {exc}"
                    ) from exc
                time.sleep(delay)
                delay *= 2
                continue
            self.breaker.success()
            events = result.as_numpy("event_logits") if self._serves_events else None
            return result.as_numpy("logits"), events, result.get_response().model_version
        raise AssertionError("unreachable")

    def score(self, texts: Sequence[str]) -> ScoreResult:
        if not texts:
            return ScoreResult(np.empty((0, len(LABELS)), dtype=np.float32), self.model)
        for _ in range(2):
            version = self._version
            chunks = list(self._encoder(version).chunks(texts, self.max_batch))
            events = self._events_of(version)
            results = list(self._pool.map(self._infer, chunks))
            served = {v for _, _, v in results}
            if served == {version}:
                logits = np.empty((len(texts), len(LABELS)), dtype=np.float32)
                event_logits = np.empty((len(texts), len(events)), dtype=np.float32) if events else None
                for chunk, (out, event_out, _) in zip(chunks, results, strict=True):
                    logits[chunk.index] = out
                    if event_logits is not None:
                        if event_out is None or event_out.shape[1] != len(events):
                            raise TritonContractError(
                                f"{self._name} version {version}: its manifest lists {len(events)} event "
                                f"types, Triton returned {None if event_out is None else event_out.shape}"
                            )
                        event_logits[chunk.index] = event_out
                return ScoreResult(
                    softmax(logits),
                    ModelRef(name=self._name, version=version),
                    softmax(event_logits) if event_logits is not None else None,
                    events,
                )
            # Triton switched versions under us: one batch must come from one version.
            self._version = max(served, key=int)
            log.info("Triton now serves %s version %s", self._name, self._version)
        raise BackendUnavailable("Triton kept switching model versions during one batch")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
