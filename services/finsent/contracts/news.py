"""Message contracts: what goes on FinSent's Kafka topics, as pydantic models.

`NewsItem` (topic `finsent.news`) is what producers send; `ScoredItem` (`finsent.scored`) is what
the scorer writes; `DeadLetter` (`finsent.news.dlq`) holds input that could not be processed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from finsent.contracts.event_type import MAX_EVENT_TYPE_CHARS

MAX_TEXT_CHARS = 20_000
MAX_META_BYTES = 4_096
MAX_TOPICS = 32
MAX_TOPIC_CHARS = 64
MAX_ID_CHARS = 256
SNIPPET_CHARS = 280


class Label(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


# Tokens per text that models are trained, exported and served with unless told otherwise.
DEFAULT_MAX_LENGTH = 128

# The order of the model's logits; every backend and every exported model uses it.
LABELS: tuple[Label, ...] = (Label.NEGATIVE, Label.NEUTRAL, Label.POSITIVE)


def _meta_bounded(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_META_BYTES:
        raise ValueError(f"meta is {size} bytes as JSON; the limit is {MAX_META_BYTES}")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-14:00: past the last representable instant
        raise ValueError("the time is outside the representable range once converted to UTC") from None


NonEmptyId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID_CHARS)]
TopicName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TOPIC_CHARS)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


class NewsItem(BaseModel):
    """A news article or social post to score (JSON on `finsent.news`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: NonEmptyId
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)]
    source: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = "unknown"
    published_at: UtcDatetime | None = Field(
        default=None, description="RFC 3339; defaults to the Kafka record's timestamp"
    )
    topics: list[TopicName] = Field(default_factory=list, max_length=MAX_TOPICS)
    lang: Annotated[str, StringConstraints(max_length=16)] | None = None
    url: Annotated[str, StringConstraints(max_length=2_048)] | None = None
    meta: Annotated[dict[str, Any], AfterValidator(_meta_bounded)] = Field(default_factory=dict)

    @field_validator("topics")
    @classmethod
    def _dedupe_topics(cls, topics: list[str]) -> list[str]:
        return list(dict.fromkeys(topics))


class ModelRef(BaseModel):
    """Which model produced a score: its name and its model_repo version."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str


class Probs(BaseModel):
    model_config = ConfigDict(frozen=True)

    negative: float
    neutral: float
    positive: float


class ScoredItem(BaseModel):
    """A scored item (JSON on `finsent.scored`)."""

    model_config = ConfigDict(frozen=True)

    id: str
    topics: list[str]
    source: str
    published_at: UtcDatetime = Field(description="as the producer sent it (or the record timestamp)")
    event_time: UtcDatetime | None = Field(
        default=None,
        description="the time the item counts at in aggregation: published_at bounded by the record's "
        "timestamp (see event_time_clamped)",
    )
    event_time_clamped: str | None = Field(
        default=None, description="`future` or `past` when published_at was outside the allowed skew"
    )
    label: Label
    probs: Probs
    score: float = Field(description="p(positive) - p(negative), in [-1, 1]")
    model: ModelRef
    scored_at: UtcDatetime
    snippet: str | None = Field(
        default=None, description="the first 280 characters of the text (alert evidence)"
    )
    text: str | None = Field(
        default=None, description="the input text, only when FINSENT_SCORED_INCLUDE_TEXT is on"
    )
    # Added with the event-type head; absent (None) from a model without one, and from records
    # written before it, so old readers and old records are unaffected.
    event_type: Annotated[str, StringConstraints(max_length=MAX_EVENT_TYPE_CHARS)] | None = Field(
        default=None, description="what the text is about (contracts/event_type.py), from the event head"
    )
    event_prob: float | None = Field(default=None, description="the event head's probability of event_type")


class DeadLetter(BaseModel):
    """A rejected input record (JSON on `finsent.news.dlq`). The payload is kept, bounded."""

    model_config = ConfigDict(frozen=True)

    reason: str = Field(description="a machine-readable reason code, e.g. `invalid_json`")
    detail: str = Field(description="a human-readable explanation")
    topic: str
    partition: int
    offset: int
    key: str | None = None
    payload: str = Field(description="the original bytes, base64, cut to `payload_limit` bytes")
    payload_size: int
    payload_truncated: bool
    rejected_at: UtcDatetime


def utcnow() -> datetime:
    return datetime.now(UTC)
