"""The stage after the model: scores and items become ScoredItems, then one TopicScore per topic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from finsent.contracts.news import ModelRef, NewsItem
from finsent.inference.backend import ScoreResult
from finsent.scoring.postprocess import scored_items, topic_fan_out
from finsent.topics.extract import TopicExtractor, load_entities

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
MODEL = ModelRef(name="finsent_sentiment", version="3")


def items() -> list[NewsItem]:
    return [
        NewsItem(id="a", text="Boeing shares plunge after profit warning", published_at=T0),
        NewsItem(id="b", text="Quiet day for markets", topics=["macro"], published_at=T0),
    ]


def test_each_item_gets_its_label_probabilities_score_and_event_type():
    result = ScoreResult(
        probs=np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2]]),
        model=MODEL,
        event_probs=np.array([[0.1, 0.9], [0.6, 0.4]]),
        event_labels=("Analyst Update", "Stock Movement"),
    )
    clamped = T0 + timedelta(minutes=5)
    out = scored_items(items(), result, [(T0, None), (clamped, "future")])
    assert [s.label.value for s in out] == ["negative", "neutral"]
    assert out[0].score == 0.05 - 0.8 and out[0].probs.negative == 0.8
    assert [(s.event_type, s.event_prob) for s in out] == [("Stock Movement", 0.9), ("Analyst Update", 0.6)]
    assert out[1].event_time == clamped and out[1].event_time_clamped == "future"
    assert out[1].published_at == T0  # as sent; the clamped time is only what it counts at
    assert all(s.model == MODEL and s.text is None for s in out)  # no text unless asked for


def test_topics_come_from_the_extractor_and_each_topic_gets_one_record():
    result = ScoreResult(probs=np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2]]), model=MODEL)
    out = scored_items(
        items(),
        result,
        [(T0, None), (T0, None)],
        extractor=TopicExtractor(load_entities()),
        include_text=True,
    )
    assert "BA" in out[0].topics and "sector:aerospace" in out[0].topics
    assert out[1].topics == ["macro"] and out[1].text == "Quiet day for markets"
    assert out[0].event_type is None  # a model without an event head
    fanned = topic_fan_out(out)
    assert [(t.id, t.topic) for t in fanned] == [("a", t) for t in out[0].topics] + [("b", "macro")]
    assert all(t.model_version == "3" for t in fanned)
