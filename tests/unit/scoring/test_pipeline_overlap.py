"""The scoring loop's overlap of batch N's scoring with batch N-1's delivery and batch N+1's poll:
what goes wrong inside that window (a failed delivery, a backend outage, a rebalance) must lose
nothing and deliver nothing twice. The real-broker versions are in test_scorer_kafka.py; here the
source is the embedded replay source and the faults are injected exactly where they hurt."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

from finsent.scoring.dedup import RecentIds
from finsent.scoring.metrics import PipelineMetrics
from finsent.scoring.replay import ReplaySource
from finsent.scoring.scorer import PipelineOptions, ScoringPipeline
from support.fakes import FixedBackend, RecordingSink


class RebalancingSource(ReplaySource):
    """Counts a revocation in the middle of the given poll numbers, as Kafka would in poll()."""

    def __init__(self, path: Path, *, max_batch: int, revoke_on_polls: tuple[int, ...]) -> None:
        super().__init__(path, max_batch=max_batch)
        self.polls = 0
        self.revoke_on_polls = revoke_on_polls
        self._revoked = 0

    def next_batch(self, stop, busy=None):
        self.polls += 1
        if self.polls in self.revoke_on_polls:
            self._revoked += 1
        return super().next_batch(stop, busy)

    def revocations(self) -> int:
        return self._revoked


def feed(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "feed.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": f"item {i}"}) + "\n" for i in ids))
    return path


def assert_each_id_delivered_once(sink: RecordingSink, ids: list[str]) -> None:
    counts = Counter(s.id for s in sink.scored)
    assert set(counts) == set(ids) and max(counts.values()) == 1


def run(source: ReplaySource, backend: FixedBackend, sink: RecordingSink) -> ScoringPipeline:
    pipeline = ScoringPipeline(
        source,
        backend,
        sink,
        recent=RecentIds(10_000, 3600),
        metrics=PipelineMetrics(),
        options=PipelineOptions(backend_retry_s=0.01, backend_retry_max_s=0.01),
    )
    finished = threading.Thread(target=pipeline.run, args=(threading.Event(),), kwargs={"until": source.done})
    finished.start()
    finished.join(timeout=60)
    assert not finished.is_alive(), "the pipeline did not finish the feed"
    return pipeline


def test_a_duplicate_in_the_next_batch_is_caught_while_the_first_is_undelivered(tmp_path):
    # "a" ends batch 1 and starts batch 2: batch 2 is validated before batch 1 is delivered.
    ids = ["x1", "x2", "x3", "a", "a", "y1", "y2", "y3"]
    source = ReplaySource(feed(tmp_path, ids), max_batch=4)
    sink = RecordingSink()
    pipeline = run(source, FixedBackend(), sink)
    assert sorted(s.id for s in sink.scored) == sorted(set(ids))
    assert pipeline.progress.duplicates == 1
    assert source.committed == len(ids)


def test_a_failed_delivery_rewinds_the_batch_being_scored_too(tmp_path):
    ids = [f"i{n}" for n in range(40)]
    source = ReplaySource(feed(tmp_path, ids), max_batch=8)
    sink = RecordingSink(fail_writes=(2, 4))  # fails while the next batch is already being scored
    backend = FixedBackend()
    run(source, backend, sink)
    assert_each_id_delivered_once(sink, ids)
    assert backend.scored_texts > len(ids)  # the discarded in-flight batches were scored again
    assert source.committed == len(ids)


def test_a_backend_outage_loses_nothing(tmp_path):
    ids = [f"o{n}" for n in range(30)]
    source = ReplaySource(feed(tmp_path, ids), max_batch=7)
    sink = RecordingSink()
    run(source, FixedBackend(fail_calls=(2, 3)), sink)
    assert_each_id_delivered_once(sink, ids)
    assert source.committed == len(ids)


def test_a_rebalance_while_a_batch_is_in_flight_discards_and_rereads_it(tmp_path):
    ids = [f"r{n}" for n in range(30)]
    # Poll 3 is the one made while batch 2 is being scored.
    source = RebalancingSource(feed(tmp_path, ids), max_batch=6, revoke_on_polls=(3,))
    sink = RecordingSink()
    backend = FixedBackend()
    run(source, backend, sink)
    assert_each_id_delivered_once(sink, ids)
    assert backend.scored_texts == len(ids) + 6  # exactly the in-flight batch was scored twice
    assert source.committed == len(ids)


class LateRevocationSource(ReplaySource):
    """A revocation that lands between a batch's scoring and its delivery, as one can when Kafka's
    IO thread runs the rebalance callback: the count moves on the `at`-th time it is read."""

    def __init__(self, path: Path, *, max_batch: int, at: int) -> None:
        super().__init__(path, max_batch=max_batch)
        self.reads, self.at = 0, at

    def revocations(self) -> int:
        self.reads += 1
        return int(self.reads >= self.at)


def test_a_rebalance_between_scoring_and_delivery_discards_the_batch(tmp_path):
    ids = [f"d{n}" for n in range(30)]
    # Read 1: batch 1 is read; read 2: batch 1 is scored, no revocation yet; read 3: batch 2 is read
    # (the revocation has landed); read 4: batch 1's delivery must see it and not deliver.
    source = LateRevocationSource(feed(tmp_path, ids), max_batch=6, at=3)
    sink = RecordingSink()
    backend = FixedBackend()
    run(source, backend, sink)
    assert_each_id_delivered_once(sink, ids)
    assert backend.scored_texts == len(ids) + 12  # batches 1 and 2 were scored twice
    assert source.committed == len(ids)
