"""The scorer against the real broker: exactly-N results, dead letters, crash and shutdown safety,
and several scorers sharing a group."""

from __future__ import annotations

import base64
import json
import re
import signal
import time
from collections import Counter

import pytest

from finsent.contracts.news import DeadLetter, ScoredItem
from support.kafka import Scorer, committed_total, consume, fresh_topics, news, produce, wait_committed

pytestmark = pytest.mark.kafka

MALFORMED = [
    (b"\xff\xfe not utf-8 \xc3\x28", "not_utf8"),
    (b'{"id": "x1", "text": "unterminated', "invalid_json"),
    (b'["a", "list"]', "not_an_object"),
    (json.dumps({"id": "x2", "source": "wire"}).encode(), "missing_field"),  # no text
    (json.dumps({"text": "no id here"}).encode(), "missing_field"),
    (json.dumps({"id": "x3", "text": "   "}).encode(), "invalid_field"),  # blank after stripping
    (json.dumps({"id": "x4", "text": "y" * 20_001}).encode(), "invalid_field"),  # too long
    (json.dumps({"id": "x5", "text": "ok", "topics": "AAPL"}).encode(), "invalid_field"),  # mistyped
    (json.dumps({"id": "x6", "text": "ok", "published_at": "yesterday"}).encode(), "invalid_field"),
    (json.dumps({"id": "x7", "text": "z" * 300_000}).encode(), "too_large"),
]


def test_valid_and_malformed_messages(kafka, model_repo, tmp_path):
    topics = fresh_topics(kafka)
    n_valid = 120
    valid = [news(f"v{i}", topics=["AAPL"]) for i in range(n_valid)]
    values = valid[:60] + [m for m, _ in MALFORMED] + valid[60:]
    produce(kafka, topics.news, values)
    scorer = Scorer(kafka, topics, model_repo, "--max-batch", "32", log=tmp_path / "scorer.log")
    try:
        scored = consume(kafka, topics.scored, expect=n_valid, timeout_s=90)
        dead = consume(kafka, topics.dlq, expect=len(MALFORMED), timeout_s=30)
    finally:
        scorer.stop()
    items = [ScoredItem.model_validate_json(r.value) for r in scored]
    assert sorted(i.id for i in items) == sorted(f"v{i}" for i in range(n_valid))
    for item in items:
        assert item.topics == ["AAPL", "sector:technology"]  # the sector comes from the entity dictionary
        assert abs(item.probs.negative + item.probs.neutral + item.probs.positive - 1) < 1e-4
        assert item.score == pytest.approx(item.probs.positive - item.probs.negative)
        assert item.model.name == "finsent_sentiment"
    letters = [DeadLetter.model_validate_json(r.value) for r in dead]
    assert len(letters) == len(MALFORMED)
    by_payload = {}
    for letter in letters:
        payload = base64.b64decode(letter.payload)
        by_payload[payload[:64]] = letter
        assert letter.topic == topics.news and letter.offset >= 0 and letter.detail
    for raw, reason in MALFORMED:
        letter = by_payload[raw[:64]]
        assert letter.reason == reason, (raw[:40], letter.detail)
        assert letter.payload_size == len(raw)
        assert letter.payload_truncated == (len(raw) > 65_536)


def test_sigkill_mid_stream_loses_nothing(kafka, model_repo, tmp_path):
    topics = fresh_topics(kafka)
    ids = [f"k{i}" for i in range(1500)]
    produce(kafka, topics.news, [news(i) for i in ids])
    log = tmp_path / "scorer.log"
    first = Scorer(kafka, topics, model_repo, "--max-batch", "64", log=log)
    assert wait_committed(kafka, topics.group, topics.news, 200, 90) >= 200, first.output()[-2000:]
    first.signal(signal.SIGKILL)
    first.wait()
    assert committed_total(kafka, topics.group, topics.news) < len(ids), "killed too late to prove anything"
    second = Scorer(kafka, topics, model_repo, "--max-batch", "64", log=log)
    try:
        scored = consume(kafka, topics.scored, expect=len(ids), timeout_s=120)
    finally:
        second.stop()
    got = {ScoredItem.model_validate_json(r.value).id for r in scored}
    assert got == set(ids), f"missing {len(set(ids) - got)} ids"
    assert committed_total(kafka, topics.group, topics.news) == len(ids)


def test_two_scorers_share_the_partitions(kafka, model_repo, tmp_path):
    topics = fresh_topics(kafka)
    a = Scorer(kafka, topics, model_repo, "--max-batch", "32", log=tmp_path / "a.log")
    b = Scorer(kafka, topics, model_repo, "--max-batch", "32", log=tmp_path / "b.log")
    try:
        time.sleep(8)  # both join the group before data arrives
        ids = [f"s{i}" for i in range(900)]
        produce(kafka, topics.news, [news(i) for i in ids], keys=[i.encode() for i in ids])
        scored = consume(kafka, topics.scored, expect=len(ids), timeout_s=120, settle_s=4)
        # Read before stopping: once one leaves the group, the other takes all 6 partitions.
        outputs = [a.output(), b.output()]
    finally:
        a.stop()
        b.stop()
    counts = Counter(ScoredItem.model_validate_json(r.value).id for r in scored)
    assert set(counts) == set(ids), (
        f"{len(counts)} of {len(ids)} scored; logs: {[o[-1500:] for o in outputs]}"
    )
    assert max(counts.values()) == 1, [k for k, v in counts.items() if v > 1][:5]
    for out in outputs:
        # Both processes own a share of the 6 partitions...
        shares = re.findall(r"assigned (\d+) partitions", out)
        assert shares and 0 < int(shares[-1]) < 6, out[-1500:]
    # ...and their progress lines (every second here) account for every message between them.
    last_counts = [re.findall(r"progress: (\d+) scored", out) for out in outputs]
    assert all(last_counts) and sum(int(c[-1]) for c in last_counts) == len(ids), outputs


def test_sigterm_finishes_batch_and_commits(kafka, model_repo, tmp_path):
    topics = fresh_topics(kafka)
    ids = [f"t{i}" for i in range(2000)]
    produce(kafka, topics.news, [news(i) for i in ids])
    log = tmp_path / "scorer.log"
    first = Scorer(kafka, topics, model_repo, "--max-batch", "50", log=log)
    assert wait_committed(kafka, topics.group, topics.news, 100, 90) >= 100, first.output()[-2000:]
    first.signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0, first.output()[-2000:]
    assert "stopped cleanly" in first.output()
    committed = committed_total(kafka, topics.group, topics.news)
    assert 100 <= committed < len(ids), committed
    # Every committed record has its result, and nothing was produced beyond the commit.
    produced = consume(kafka, topics.scored, expect=committed, timeout_s=30)
    assert len(produced) == committed
    second = Scorer(kafka, topics, model_repo, "--max-batch", "50", log=log)
    try:
        scored = consume(kafka, topics.scored, expect=len(ids), timeout_s=120, settle_s=3)
    finally:
        second.stop()
    counts = Counter(ScoredItem.model_validate_json(r.value).id for r in scored)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1, "the restart re-scored committed records"
