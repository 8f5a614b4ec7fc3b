"""Signed webhook delivery: a bounded queue, one worker thread, retries with exponential backoff.

Each POST carries the AlertEvent JSON and two headers:

    X-FinSent-Timestamp: <unix seconds>
    X-FinSent-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>

Receivers recompute the HMAC over the raw body and reject stale timestamps (replay protection).
The secret is never logged. When the queue is full the oldest pending event is dropped (and
counted): a stuck receiver must not hold the aggregator's memory or its progress hostage."""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
import time
from collections.abc import Sequence

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from finsent.contracts.alert import AlertEvent

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-FinSent-Signature"
TIMESTAMP_HEADER = "X-FinSent-Timestamp"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, *, max_age_s: float = 300) -> bool:
    """Receiver side (used by the tests; copy it into your receiver)."""
    if abs(time.time() - float(timestamp)) > max_age_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


OK, RETRY, REJECT = "ok", "retry", "reject"


def post_signed(
    client: httpx.Client, url: str, body: bytes, secret: bytes | None, metrics: WebhookMetrics
) -> str:
    """One signed POST. OK on 2xx; RETRY on a connection error, 5xx, 408 or 429; REJECT on any other
    4xx (the receiver will not change its mind). Counted and timed in `metrics`."""
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: ts}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, ts, body)
    started = time.perf_counter()
    try:
        r = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        metrics.deliveries.labels(result="error").inc()
        log.debug("webhook %s: %s", safe_url(url), type(exc).__name__)
        return RETRY
    finally:
        metrics.latency.observe(time.perf_counter() - started)
    if r.status_code < 300:
        metrics.deliveries.labels(result="ok").inc()
        return OK
    metrics.deliveries.labels(result=f"http_{r.status_code // 100}xx").inc()
    return RETRY if r.status_code >= 500 or r.status_code in (408, 429) else REJECT


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "finsent_webhook_deliveries_total", "Webhook POSTs by outcome.", ["result"], registry=registry
        )
        self.dropped = Counter(
            "finsent_webhook_dropped_total",
            "Alert events dropped: queue full or retries spent.",
            ["reason"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "finsent_webhook_queue_depth", "Alert deliveries waiting.", registry=registry
        )
        self.latency = Histogram(
            "finsent_webhook_request_seconds",
            "Webhook POST latency.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )


class WebhookSender:
    def __init__(
        self,
        urls: Sequence[str],
        secret: bytes | None,
        metrics: WebhookMetrics,
        *,
        max_queue: int = 1_000,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._urls = list(urls)
        self._secret = secret
        self._metrics = metrics
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=max_queue)
        self._attempts, self._backoff, self._backoff_max = max_attempts, backoff_s, backoff_max_s
        self._client = httpx.Client(timeout=timeout_s)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._worker.start()

    def submit(self, event: AlertEvent) -> None:
        body = event.model_dump_json().encode()
        for url in self._urls:
            while True:
                try:
                    self._queue.put_nowait((url, body))
                    break
                except queue.Full:
                    try:
                        self._queue.get_nowait()
                        self._queue.task_done()
                        self._metrics.dropped.labels(reason="queue_full").inc()
                    except queue.Empty:
                        pass
        self._metrics.queue_depth.set(self._queue.qsize())

    def _post(self, url: str, body: bytes) -> bool:
        """True when done with (delivered, or a 4xx that retrying will not change)."""
        outcome = post_signed(self._client, url, body, self._secret, self._metrics)
        if outcome == REJECT:
            log.warning("webhook %s: rejected with a 4xx; not retried", safe_url(url))
        elif outcome == RETRY:
            log.warning("webhook %s: not delivered; will retry", safe_url(url))
        return outcome != RETRY

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                url, body = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            delay = self._backoff
            for attempt in range(1, self._attempts + 1):
                if self._post(url, body):
                    break
                if attempt == self._attempts:
                    self._metrics.dropped.labels(reason="retries_exhausted").inc()
                    log.error("webhook %s: giving up after %d attempts", safe_url(url), attempt)
                    break
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self._backoff_max)
            self._queue.task_done()
            self._metrics.queue_depth.set(self._queue.qsize())

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything queued was delivered or given up on."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._worker.join(timeout=5)
        self._client.close()


def safe_url(url: str) -> str:
    """The URL without credentials or query string (those may carry tokens)."""
    u = httpx.URL(url)
    return f"{u.scheme}://{u.host}{':' + str(u.port) if u.port else ''}{u.path}"
