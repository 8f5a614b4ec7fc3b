"""The scoring pipeline: source -> validate -> de-duplicate -> score -> produce -> commit.

Delivery is at-least-once: a batch's offsets are committed only after every result (scored item
or dead letter) was acknowledged by the sink. Anything that fails before the commit is read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from finsent.contracts import LABELS, SNIPPET_CHARS, DeadLetter, NewsItem, Probs, ScoredItem, utcnow
from finsent.inference.backend import BackendUnavailable, ScoringBackend
from finsent.observability.metrics import PipelineMetrics
from finsent.pipeline.batching import Batch
from finsent.pipeline.dedup import RecentIds
from finsent.pipeline.validate import parse_record
from finsent.topics.extract import TopicExtractor

log = logging.getLogger(__name__)

LAG_EVERY_S = 5.0


class Source(Protocol):
    def next_batch(self, stop: threading.Event) -> Batch: ...
    def commit(self, batch: Batch) -> None: ...
    def rewind(self, batch: Batch) -> None: ...
    def lag(self) -> int | None: ...
    def close(self) -> None: ...


class Sink(Protocol):
    def write(self, scored: list[ScoredItem], dead: list[DeadLetter]) -> None: ...
    def close(self) -> None: ...


@dataclass
class BatchOutcome:
    scored: list[ScoredItem] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0


@dataclass
class PipelineOptions:
    max_message_bytes: int = 262_144
    dlq_payload_limit: int = 65_536
    include_text: bool = False
    produce_retries: int = 5
    backend_retry_s: float = 1.0
    backend_retry_max_s: float = 10.0
    progress_s: float = 0.0  # 0: no progress lines


@dataclass
class Progress:
    """Running totals for the operator's progress line."""

    batches: int = 0
    scored: int = 0
    dead: int = 0
    duplicates: int = 0
    logged_at: float = field(default_factory=time.monotonic)
    logged: tuple[int, int, int] = (0, 0, 0)

    def add(self, out: BatchOutcome) -> None:
        self.batches += 1
        self.scored += len(out.scored)
        self.dead += len(out.dead)
        self.duplicates += out.duplicates


class ScoringPipeline:
    def __init__(
        self,
        source: Source,
        backend: ScoringBackend,
        sink: Sink,
        *,
        recent: RecentIds,
        metrics: PipelineMetrics,
        options: PipelineOptions | None = None,
        on_batch: Callable[[BatchOutcome], None] | None = None,
        extractor: TopicExtractor | None = None,
    ) -> None:
        self.source, self.backend, self.sink = source, backend, sink
        self.recent, self.metrics = recent, metrics
        self.options = options or PipelineOptions()
        self.on_batch = on_batch
        self.extractor = extractor
        self.progress = Progress()

    # -- one batch, stage by stage ---------------------------------------------------------------
    def score_batch(self, batch: Batch) -> BatchOutcome:
        out = BatchOutcome()
        items: list[NewsItem] = []
        in_batch: set[str] = set()
        for record in batch.records:
            parsed = parse_record(
                record, max_bytes=self.options.max_message_bytes, payload_limit=self.options.dlq_payload_limit
            )
            if isinstance(parsed, DeadLetter):
                out.dead.append(parsed)
            elif parsed.id in in_batch or parsed.id in self.recent:
                out.duplicates += 1
            else:
                in_batch.add(parsed.id)
                items.append(parsed)
        if items:
            started = time.perf_counter()
            result = self.backend.score([i.text for i in items])
            self.metrics.inference_seconds.observe(time.perf_counter() - started)
            now = utcnow()
            for item, p in zip(items, result.probs, strict=True):
                probs = Probs(negative=float(p[0]), neutral=float(p[1]), positive=float(p[2]))
                topics = self.extractor.topics(item.text, item.topics) if self.extractor else item.topics
                out.scored.append(
                    ScoredItem(
                        id=item.id,
                        topics=topics,
                        source=item.source,
                        published_at=item.published_at,
                        label=LABELS[int(p.argmax())],
                        probs=probs,
                        score=probs.positive - probs.negative,
                        model=result.model,
                        scored_at=now,
                        snippet=item.text[:SNIPPET_CHARS],
                        text=item.text if self.options.include_text else None,
                    )
                )
        return out

    def _deliver(self, batch: Batch, out: BatchOutcome) -> None:
        self.sink.write(out.scored, out.dead)
        self.source.commit(batch)
        for s in out.scored:
            self.recent.add(s.id)
        m = self.metrics
        m.consumed.inc(len(batch))
        m.batches.inc()
        m.batch_size.observe(len(batch))
        m.duplicates.inc(out.duplicates)
        for s in out.scored:
            m.scored.labels(label=s.label.value).inc()
        for d in out.dead:
            m.rejected.labels(reason=d.reason).inc()

    def _log_progress(self, lag: int | None) -> None:
        p = self.progress
        every = self.options.progress_s
        now = time.monotonic()
        if not every or now - p.logged_at < every:
            return
        totals = (p.scored, p.dead, p.duplicates)
        p.logged_at = now
        if totals == p.logged and not lag:
            return  # idle and caught up: nothing worth a line
        p.logged = totals
        log.info(
            "progress: %d scored, %d dead letters, %d duplicates in %d batches; lag %s",
            *totals,
            p.batches,
            "unknown" if lag is None else lag,
        )

    # -- the loop --------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, until: threading.Event | None = None) -> None:
        """Run until `stop` is set (the batch in flight is finished and committed first) or, for a
        finite source, until `until` is set and nothing is left."""
        backoff = self.options.backend_retry_s
        produce_failures = 0
        lag_at = 0.0
        self.metrics.ready.set(1)
        self.metrics.set_model(self.backend.model.name, self.backend.model.version)
        lag: int | None = None
        while not stop.is_set():
            if time.monotonic() - lag_at >= LAG_EVERY_S:
                # Asking the broker for end offsets costs a round trip: not on every batch.
                lag_at = time.monotonic()
                lag = self.source.lag()
                if lag is not None:
                    self.metrics.consumer_lag.set(lag)
            self._log_progress(lag)
            batch = self.source.next_batch(stop)
            if not batch.records:
                if until is not None and until.is_set():
                    break
                continue
            started = time.perf_counter()
            try:
                out = self.score_batch(batch)
            except BackendUnavailable as exc:
                # Nothing of this batch is committed: read it again once the backend is back.
                self.metrics.backend_errors.inc()
                self.metrics.ready.set(0)
                log.warning("backend unavailable (%s); retrying in %.1fs", exc, backoff)
                self.source.rewind(batch)
                stop.wait(backoff)
                backoff = min(backoff * 2, self.options.backend_retry_max_s)
                continue
            backoff = self.options.backend_retry_s
            self.metrics.ready.set(1)
            try:
                self._deliver(batch, out)
            except Exception as exc:
                produce_failures += 1
                self.metrics.produce_errors.inc()
                if produce_failures > self.options.produce_retries:
                    raise
                log.warning(
                    "results not delivered (%s); retry %d of %d",
                    exc,
                    produce_failures,
                    self.options.produce_retries,
                )
                self.source.rewind(batch)
                stop.wait(min(2**produce_failures, 30))
                continue
            produce_failures = 0
            self.progress.add(out)
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
            self.metrics.set_model(self.backend.model.name, self.backend.model.version)
            if self.on_batch is not None:
                self.on_batch(out)
