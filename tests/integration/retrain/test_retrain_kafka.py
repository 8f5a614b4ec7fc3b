"""Retraining against the real broker: label events from `finsent.labels` (malformed ones to the
labels' dead-letter topic with their reasons, every valid one stored, across a SIGKILL), and a
promotion while a scorer is scoring the stream (every message scored once, by exactly one version,
and a partition never goes back to the old version)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("torch")

from finsent.contracts.news import DeadLetter, ScoredItem
from finsent.kafka.client import ensure_topics
from finsent.retrain.label_store import LabelStore
from support.kafka import Scorer, committed_total, consume, fresh_topics, news, produce
from support.process import Process
from support.retraining import Workspace

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def label(i: int, **override: object) -> bytes:
    event = {
        "item_id": f"n{i}",
        "text": f"Acme cuts guidance for the {i}th time",
        "label": ["negative", "neutral", "positive"][i % 3],
        "labeller": f"analyst-{i % 4}",
        "labelled_at": "2026-11-20T10:00:00Z",
        **override,
    }
    return json.dumps(event).encode()


BAD = [
    (b"", "empty"),
    (b"{oops", "invalid_json"),
    (b'"just a string"', "not_an_object"),
    (b'{"item_id": "x", "text": "y", "label": "negative"}', "missing_field"),
    (label(0, label="sideways"), "invalid_field"),
    (label(0, labelled_at="yesterday"), "invalid_field"),
    (b"[" * 3000, "invalid_json"),
]


def test_label_events_are_stored_or_dead_lettered_and_none_is_lost(kafka: str, tmp_path: Path):
    tag = uuid.uuid4().hex[:8]
    topic, dlq, group = f"l{tag}.labels", f"l{tag}.labels.dlq", f"g{tag}"
    ensure_topics(kafka, [topic, dlq], 3)
    state = tmp_path / "state"
    argv = ["labels", "consume", "--kafka", kafka, "--labels-topic", topic, "--labels-dlq-topic", dlq]
    argv += ["--labels-group-id", group, "--retrain-dir", str(state)]
    n = 300
    first = [label(i) for i in range(n // 2)] + [raw for raw, _ in BAD]
    second = [label(i) for i in range(n // 2, n)] + [raw for raw, _ in BAD]
    produce(kafka, topic, first)
    store = LabelStore(state / "labels")
    consumer = Process(Workspace.argv(*argv), tmp_path / "c1.log")
    deadline = time.monotonic() + 60
    while store.count() < n // 4:
        assert consumer.alive() and time.monotonic() < deadline, (tmp_path / "c1.log").read_text()[-2000:]
        time.sleep(0.1)
    consumer.kill()  # SIGKILL: whatever was stored but not committed is read (and stored) again
    produce(kafka, topic, second)
    consumer = Process(Workspace.argv(*argv), tmp_path / "c2.log")
    try:
        total = len(first) + len(second)
        deadline = time.monotonic() + 60
        while committed_total(kafka, group, topic) < total:
            assert time.monotonic() < deadline, (tmp_path / "c2.log").read_text()[-2000:]
            time.sleep(0.2)
        dead = consume(kafka, dlq, expect=2 * len(BAD), timeout_s=30)
    finally:
        consumer.stop()
    stored = store.read()
    assert stored.damaged == []
    assert {e.item_id for e in stored.events} == {f"n{i}" for i in range(n)}  # every valid one
    letters = [DeadLetter.model_validate_json(r.value) for r in dead]
    # Each bad record is dead-lettered with its reason. One that the killed consumer had already
    # dead-lettered but not committed is read and dead-lettered again (at-least-once, as for the
    # stored labels): the same (partition, offset) twice, never a record missing.
    by_record = {(d.partition, d.offset): d for d in letters}
    assert sorted(d.reason for d in by_record.values()) == sorted([reason for _, reason in BAD] * 2)
    assert len(letters) <= 3 * len(BAD)  # at most the first batch's letters twice
    assert all(d.topic == topic and d.detail for d in letters)
    stats = Workspace.run("labels", "stats", "--json", "--retrain-dir", str(state))
    assert stats.returncode == 0, stats.stderr
    report = json.loads(stats.stdout)
    assert sum(report["training_labels"].values()) == n  # re-read duplicates count once
    assert set(report["by_labeller"]) == {f"analyst-{k}" for k in range(4)}


def test_scoring_goes_on_across_a_promotion(kafka: str, ws: Workspace, tmp_path: Path):
    # Version 1: trained on wrong labels. Version 2 (promoted mid-stream): trained on right ones.
    assert (
        ws.finsent("labels", "import", str(ws.label_file("bad.csv", "mallory", shuffled=True))).returncode
        == 0
    )
    assert "run 1: promoted" in ws.finsent("retrain").stdout
    topics = fresh_topics(kafka, partitions=3)
    scorer = Scorer(
        kafka, topics, ws.repo, "--model-poll-s", "1", "--max-batch", "32", log=tmp_path / "s.log"
    )
    texts = [t for t, _ in ws.pool]
    produced = 0
    promoted = threading.Event()

    def paced() -> None:
        # News flows before, during and for 20 batches (10 s, ten model polls) after the promotion,
        # however long the retraining run takes on this machine.
        nonlocal produced
        after = 0
        while after < 20:
            batch = [news(f"m{i}", texts[i % len(texts)]) for i in range(produced, produced + 40)]
            produce(kafka, topics.news, batch)
            produced += len(batch)
            after += promoted.is_set()
            time.sleep(0.5)

    producer = threading.Thread(target=paced)
    producer.start()
    try:
        for name in ("ana", "bo"):
            assert ws.finsent("labels", "import", str(ws.label_file(f"{name}.csv", name))).returncode == 0
        r = ws.finsent("retrain")
        promoted.set()
        assert "run 2: promoted" in r.stdout, r.stdout + r.stderr[-2000:]
        producer.join()
        total = produced
        scored = consume(kafka, topics.scored, expect=total, timeout_s=120)
    finally:
        promoted.set()
        producer.join()
        scorer.stop()
    items = [(r.partition, r.offset, ScoredItem.model_validate_json(r.value)) for r in scored]
    ids = [item.id for _, _, item in items]
    assert len(ids) == total and set(ids) == {f"m{i}" for i in range(total)}  # each once
    assert {item.model.version for _, _, item in items} == {"1", "2"}
    by_partition: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for partition, offset, item in items:
        by_partition[partition].append((offset, int(item.model.version)))
    for seq in by_partition.values():
        versions_in_order = [v for _, v in sorted(seq)]
        assert versions_in_order == sorted(versions_in_order), "a partition went back to the old version"
