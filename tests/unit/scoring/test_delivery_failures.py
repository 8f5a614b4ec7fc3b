"""The scorer survives its sink failing for a long time: the producer is rebuilt, the loop never ends
unless told to give up."""

from __future__ import annotations

import json
import threading

import pytest

from finsent.scoring.dedup import RecentIds
from finsent.scoring.metrics import PipelineMetrics
from finsent.scoring.replay import ReplaySource
from finsent.scoring.scorer import PipelineOptions, ScoringPipeline
from support.fakes import FixedBackend, ResettableSink


def test_delivery_failures_rebuild_the_producer_and_never_end_the_loop(tmp_path, monkeypatch):
    import finsent.scoring.scorer as scorer

    monkeypatch.setattr(scorer, "MAX_DELIVERY_BACKOFF_S", 0)  # no real waiting in a unit test
    rows = [{"id": str(i), "text": f"Acme item {i}"} for i in range(100)]
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(json.dumps(r) for r in rows))
    sink = ResettableSink(fail_writes=tuple(range(2, 12)))  # ten failures in a row: more than the old limit
    metrics = PipelineMetrics()
    source = ReplaySource(feed, max_batch=16)
    ScoringPipeline(
        source, FixedBackend(), sink, recent=RecentIds(1000, 60), metrics=metrics, options=PipelineOptions()
    ).run(threading.Event(), until=source.done)
    assert sorted(int(s.id) for s in sink.scored) == list(range(100))  # nothing lost, nothing twice
    assert sink.resets == 10
    assert metrics.registry.get_sample_value("finsent_produce_errors_total") == 10
    assert metrics.registry.get_sample_value("finsent_scorer_ready") == 1


def test_delivery_gives_up_after_produce_retries_when_it_is_set(tmp_path, monkeypatch):
    import finsent.scoring.scorer as scorer

    monkeypatch.setattr(scorer, "MAX_DELIVERY_BACKOFF_S", 0)
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join(json.dumps({"id": str(i), "text": f"Acme item {i}"}) for i in range(50)))
    sink = ResettableSink(fail_writes=tuple(range(1, 50)))  # never delivers
    source = ReplaySource(feed, max_batch=16)
    pipeline = ScoringPipeline(
        source,
        FixedBackend(),
        sink,
        recent=RecentIds(1000, 60),
        metrics=PipelineMetrics(),
        options=PipelineOptions(produce_retries=3),
    )
    with pytest.raises(RuntimeError, match="injected produce failure"):
        pipeline.run(threading.Event(), until=source.done)
    assert sink.resets == 3  # three retries, then the fourth failure ends the loop
    assert sink.scored == []
