"""The stage after the model: its scores and the validated items become `ScoredItem`s (label,
probabilities, event type, topics), and each of those one `TopicScore` per topic (the fan-out,
keyed by topic downstream so that each aggregator owns whole topics)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from finsent.contracts.news import LABELS, SNIPPET_CHARS, NewsItem, Probs, ScoredItem, utcnow
from finsent.contracts.topic_score import TopicScore, fan_out
from finsent.inference.backend import ScoreResult
from finsent.topics.extract import TopicExtractor

__all__ = ["scored_items", "topic_fan_out"]


def scored_items(
    items: Sequence[NewsItem],
    result: ScoreResult,
    event_times: Sequence[tuple[datetime, str | None]],
    *,
    extractor: TopicExtractor | None = None,
    include_text: bool = False,
) -> list[ScoredItem]:
    """One `ScoredItem` per item, in order: `result` holds the model's probabilities for the items'
    texts, `event_times` each item's event time and whether it was clamped (`future`/`past`)."""
    now = utcnow()
    events = result.event_probs
    out: list[ScoredItem] = []
    for n, (item, p, (event_time, clamped)) in enumerate(zip(items, result.probs, event_times, strict=True)):
        probs = Probs(negative=float(p[0]), neutral=float(p[1]), positive=float(p[2]))
        event_type, event_prob = None, None
        if events is not None:
            k = int(events[n].argmax())
            event_type, event_prob = result.event_labels[k], float(events[n][k])
        out.append(
            ScoredItem(
                id=item.id,
                topics=extractor.topics(item.text, item.topics) if extractor else item.topics,
                source=item.source,
                published_at=item.published_at or event_time,
                event_time=event_time,
                event_time_clamped=clamped,
                label=LABELS[int(p.argmax())],
                probs=probs,
                score=probs.positive - probs.negative,
                model=result.model,
                scored_at=now,
                snippet=item.text[:SNIPPET_CHARS],
                text=item.text if include_text else None,
                event_type=event_type,
                event_prob=event_prob,
            )
        )
    return out


def topic_fan_out(scored: Sequence[ScoredItem]) -> list[TopicScore]:
    """One record per (item, topic), items in order."""
    return [ts for s in scored for ts in fan_out(s)]
