"""The scoring pipeline: source -> validate -> de-duplicate -> score -> postprocess -> produce -> commit.

Delivery is at-least-once: a batch's offsets are committed only after every result (scored item
or dead letter) was acknowledged by the sink. Anything that fails before the commit is read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from finsent.contracts.batch import Batch
from finsent.contracts.event_type import bounded_event_type
from finsent.contracts.news import DeadLetter, NewsItem, ScoredItem
from finsent.contracts.topic_score import TopicScore
from finsent.inference.backend import BackendUnavailable, ScoringBackend
from finsent.observability.failure_streak import FailureStreak
from finsent.scoring.dedup import RecentIds
from finsent.scoring.event_time import EventTimePolicy
from finsent.scoring.metrics import PipelineMetrics
from finsent.scoring.postprocess import scored_items, topic_fan_out
from finsent.scoring.protocols import Sink, Source
from finsent.scoring.validate import parse_record, record_time
from finsent.topics.extract import TopicExtractor

log = logging.getLogger(__name__)

LAG_EVERY_S = 5.0
MAX_DELIVERY_BACKOFF_S = 10


def _running(future: Future[Any]) -> bool:
    return not future.done()


@dataclass
class BatchOutcome:
    scored: list[ScoredItem] = field(default_factory=list)
    topic_scores: list[TopicScore] = field(default_factory=list)  # one per (item, topic): the fan-out
    dead: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0


@dataclass
class Prepared:
    """A batch after validation and de-duplication: what is left to score, and what is decided."""

    items: list[NewsItem]
    outcome: BatchOutcome
    # Per item: the event time it counts at, and `future`/`past` when that was clamped.
    event_times: list[tuple[datetime, str | None]] = field(default_factory=list)


@dataclass
class Scored:
    """A scored batch waiting for delivery and commit."""

    batch: Batch
    outcome: BatchOutcome
    started: float
    revocations: int  # the source's count when the batch was read

    def ids(self) -> set[str]:
        return {s.id for s in self.outcome.scored}


@dataclass
class PipelineOptions:
    max_message_bytes: int = 262_144
    dlq_payload_limit: int = 65_536
    include_text: bool = False
    produce_retries: int = 0  # 0: retry for as long as it takes
    backend_retry_s: float = 1.0
    backend_retry_max_s: float = 10.0
    progress_s: float = 0.0  # 0: no progress lines
    event_time: EventTimePolicy = field(default_factory=EventTimePolicy)


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
        # Loop state, reset by run().
        self._backoff = self.options.backend_retry_s
        self._delivery = FailureStreak(log, max_backoff_s=MAX_DELIVERY_BACKOFF_S)
        self._source_ok = self._backend_ok = True
        self._lag_at: float = 0.0
        self._lag: int | None = None

    # -- one batch, stage by stage ---------------------------------------------------------------
    def prepare(self, batch: Batch, in_flight: Collection[str] = ()) -> Prepared:
        """Validate and de-duplicate. Runs on the loop's thread: it reads the recent-ids memory,
        which only that thread changes. `in_flight`: ids scored but not yet delivered."""
        out = BatchOutcome()
        items: list[NewsItem] = []
        event_times: list[tuple[datetime, str | None]] = []
        in_batch: set[str] = set()
        for record in batch.records:
            parsed = parse_record(
                record, max_bytes=self.options.max_message_bytes, payload_limit=self.options.dlq_payload_limit
            )
            if isinstance(parsed, DeadLetter):
                out.dead.append(parsed)
            elif parsed.id in in_batch or parsed.id in in_flight or parsed.id in self.recent:
                out.duplicates += 1
            else:
                in_batch.add(parsed.id)
                items.append(parsed)
                assert parsed.published_at is not None  # validation fills it in
                event_times.append(self.options.event_time.bound(parsed.published_at, record_time(record)))
        return Prepared(items, out, event_times)

    def infer(self, prepared: Prepared) -> BatchOutcome:
        """Score the prepared items. Thread-safe: it touches nothing the loop's thread changes."""
        out, items = prepared.outcome, prepared.items
        if not items:
            return out
        started = time.perf_counter()
        result = self.backend.score([i.text for i in items])
        self.metrics.inference_seconds.observe(time.perf_counter() - started)
        out.scored = scored_items(
            items,
            result,
            prepared.event_times,
            extractor=self.extractor,
            include_text=self.options.include_text,
        )
        out.topic_scores = topic_fan_out(out.scored)
        return out

    def _deliver(self, batch: Batch, out: BatchOutcome) -> None:
        self.sink.write(out.scored, out.topic_scores, out.dead)
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
            if s.event_type is not None:
                event_type = bounded_event_type(s.event_type)
                m.scored_by_event_type.labels(event_type=event_type, label=s.label.value).inc()
            if s.event_time_clamped:
                m.event_time_clamped.labels(direction=s.event_time_clamped).inc()
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
    def _housekeeping(self) -> None:
        if time.monotonic() - self._lag_at >= LAG_EVERY_S:
            # Asking the broker for end offsets costs a round trip: not on every batch.
            self._lag_at = time.monotonic()
            self._lag = self.source.lag()
            if self._lag is not None:
                self.metrics.consumer_lag.set(self._lag)
            self._source_ok = self.source.reachable()
            self._update_ready()
        self._log_progress(self._lag)

    def _try_deliver(self, done: Scored, stop: threading.Event) -> bool:
        """Deliver and commit one scored batch. False when partitions moved since it was read, or
        (after a pause) when the sink or the commit failed: the caller rewinds."""
        if self.source.revocations() != done.revocations:
            # Its partitions' new owners read it from the last commit: delivering it here as well
            # would only produce its results twice.
            log.info("partitions moved before delivery; reading %d records again", len(done.batch))
            return False
        try:
            self._deliver(done.batch, done.outcome)
        except Exception as exc:
            self._delivery_failed(exc, stop)
            return False
        self._delivery.succeeded("results delivered again after %d failed attempts")
        self._update_ready()
        self.progress.add(done.outcome)
        self.metrics.batch_seconds.observe(time.perf_counter() - done.started)
        self.metrics.set_model(self.backend.model.name, self.backend.model.version)
        if self.on_batch is not None:
            self.on_batch(done.outcome)
        return True

    def _update_ready(self) -> None:
        """Ready: the source's broker answers, results are delivered, and the backend scores."""
        ok = self._source_ok and not self._delivery.count and self._backend_ok
        self.metrics.ready.set(1 if ok else 0)

    def _delivery_failed(self, exc: Exception, stop: threading.Event) -> None:
        """A batch's results or its commit did not go through (a broker outage, most often). The
        caller re-reads everything uncommitted; here the producer is rebuilt and the loop backs off,
        reporting not ready, for as long as it takes (or `produce_retries` times, when set)."""
        self.metrics.produce_errors.inc()
        self.metrics.ready.set(0)
        limit = self.options.produce_retries
        if limit and self._delivery.count >= limit:
            raise exc
        delay = self._delivery.failed(
            "results not delivered (%s); %d failed attempts so far, retrying in %.0fs with a new producer "
            "(uncommitted records are read again)",
            exc,
        )
        try:
            self.sink.reset()
        except Exception as reset_exc:  # the broker may still be down; the next attempt tries again
            log.debug("sink reset failed: %r", reset_exc)
        stop.wait(delay)

    def _backend_down(self, exc: BackendUnavailable, stop: threading.Event) -> None:
        self.metrics.backend_errors.inc()
        self._backend_ok = False
        self.metrics.ready.set(0)
        log.warning("backend unavailable (%s); retrying in %.1fs", exc, self._backoff)
        stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self.options.backend_retry_max_s)

    def run(self, stop: threading.Event, *, until: threading.Event | None = None) -> None:
        """Run until `stop` is set (the batch in flight is finished and committed first) or, for a
        finite source, until `until` is set and nothing is left.

        Two batches overlap: while batch N is scored on a worker thread, this thread delivers and
        commits batch N-1 and polls batch N+1, so the broker's round trips hide behind inference
        instead of adding to it. Commits stay in order and only follow delivery. Whenever something
        goes wrong in that window (sink or backend failure, partitions moving to another scorer),
        every uncommitted record is discarded and the source rewound to the oldest of them."""
        self._backoff = self.options.backend_retry_s
        self._delivery = FailureStreak(log, max_backoff_s=MAX_DELIVERY_BACKOFF_S)
        self._source_ok = self._backend_ok = True
        self._lag_at, self._lag = 0.0, None
        self.metrics.ready.set(1)
        self.metrics.set_model(self.backend.model.name, self.backend.model.version)
        scored: Scored | None = None  # scored, not yet delivered
        batch = Batch()  # read, not yet scored
        with ThreadPoolExecutor(1, thread_name_prefix="scoring") as worker:
            while True:
                if not batch.records or stop.is_set():
                    self._housekeeping()
                    # Nothing new to overlap with (a batch read as we were told to stop is left
                    # uncommitted, for the next run): deliver what is scored, then wait or leave.
                    if scored is not None and not self._try_deliver(scored, stop):
                        self.source.rewind(scored.batch)
                    scored = None
                    if stop.is_set() or (until is not None and until.is_set()):
                        break
                    batch = self.source.next_batch(stop, busy=None)
                    continue
                moved = self.source.revocations()
                started = time.perf_counter()
                prepared = self.prepare(batch, scored.ids() if scored else ())
                future = worker.submit(self.infer, prepared)
                if scored is not None:
                    delivered = self._try_deliver(scored, stop)
                    if not delivered:
                        wait([future])
                        self.source.rewind(Batch(scored.batch.records + batch.records))
                        scored, batch = None, Batch()
                        continue
                    scored = None
                # Here the batch is being scored, so a lag query's broker round trip (up to a few
                # hundred ms) costs no throughput; between batches it would leave the cores idle.
                self._housekeeping()
                following = self.source.next_batch(stop, busy=partial(_running, future))
                unscored = Batch(batch.records + following.records)
                try:
                    outcome = future.result()
                except BackendUnavailable as exc:
                    # Nothing of these batches is committed: read them again once the backend is back.
                    self.source.rewind(unscored)
                    self._backend_down(exc, stop)
                    batch = Batch()
                    continue
                self._backoff = self.options.backend_retry_s
                self._backend_ok = True
                self._update_ready()
                if self.source.revocations() != moved:
                    # A rebalance while the batch was scored: its partitions' new owners read it from
                    # the last commit, so it is not delivered here; what we still own is re-read.
                    log.info(
                        "partitions moved while %d records were in flight; reading them again", len(unscored)
                    )
                    self.source.rewind(unscored)
                    batch = Batch()
                    continue
                scored, batch = Scored(batch, outcome, started, moved), following
