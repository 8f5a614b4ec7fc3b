"""`TopicScore`: one scored item for one of its topics (JSON on `finsent.topic-scores`, key = topic).

The scorer writes one per (item, topic) in the same acknowledged batch as the `ScoredItem`, so the
aggregators can partition by topic: each instance owns the topics of its partitions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from finsent.contracts.news import Label, ScoredItem, UtcDatetime


class TopicScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    topic: str
    label: Label
    score: float
    published_at: UtcDatetime
    source: str
    # Absent on records written before event-time bounding: readers fall back to published_at.
    event_time: UtcDatetime | None = None
    model_name: str
    model_version: str
    snippet: str | None = None
    event_type: str | None = None  # from a model with an event-type head


def fan_out(item: ScoredItem) -> list[TopicScore]:
    return [
        TopicScore(
            id=item.id,
            topic=topic,
            label=item.label,
            score=item.score,
            published_at=item.published_at,
            source=item.source,
            event_time=item.event_time,
            model_name=item.model.name,
            model_version=item.model.version,
            snippet=item.snippet,
            event_type=item.event_type,
        )
        for topic in item.topics
    ]
