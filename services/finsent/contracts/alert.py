"""The alert event (JSON on `finsent.alerts` and the body of every webhook POST)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from finsent.contracts.news import ModelRef


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    score: float
    label: str
    source: str
    published_at: datetime
    snippet: str | None = None
    event_type: str | None = Field(default=None, description="what the item is about (event-type head)")
    copies: int = Field(
        default=1,
        ge=1,
        description="copies of this story the topic has seen (counted once in volume and share)",
    )


class EventTypeCount(BaseModel):
    """How many of a set of items are of one event type, and their share of the set."""

    model_config = ConfigDict(frozen=True)

    event_type: str
    count: int
    share: float


class AlertEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    alert_id: str = Field(description="stable for one spike: the same id on its firing and resolved events")
    status: Literal["firing", "resolved"]
    topic: str
    severity: Literal["warning", "critical"]
    negative_share: float = Field(description="negative share in the window assessed (window_s)")
    baseline: float = Field(
        description="the baseline negative share the spike is judged against: frozen at its onset, "
        "from minutes outside any spike"
    )
    zscore: float
    volume: int = Field(description="items in the window assessed")
    window_s: int = Field(
        description="the window assessed: the entry window or the sequential test's stretch that fired, "
        "or the resolve window"
    )
    trigger: Literal["window", "sequential"] | None = Field(
        default=None,
        description="firing events: which entry test fired, a window's z-score or the sequential "
        "(CUSUM) evidence; None on resolved events and from older aggregators",
    )
    evidence_llr: float | None = Field(
        default=None, description="the sequential test's log-likelihood ratio, when it fired"
    )
    started_at: datetime = Field(description="event time the spike began")
    event_time: datetime = Field(description="event time of this assessment (the aggregator's watermark)")
    duration_s: int = Field(default=0, description="how long the spike has lasted at this event (event time)")
    reason: Literal["recovered", "rebaselined"] | None = Field(
        default=None,
        description="resolved events: back near the frozen baseline, or re-baselined after the longest "
        "continuous alert (a new normal)",
    )
    generated_at: datetime
    model: ModelRef | None = Field(default=None, description="model version of the newest evidence")
    evidence: list[Evidence] = Field(default_factory=list, description="the most negative recent items")
    # Added with the event-type head (empty from a model without one; old readers unaffected).
    negative_event_types: list[EventTypeCount] = Field(
        default_factory=list,
        description="the short window's negative items by event type, most first: what the bad news is about",
    )
    evidence_event_types: list[EventTypeCount] = Field(
        default_factory=list, description="the evidence items by event type, most first"
    )
    event_type: str | None = Field(
        default=None,
        description="set by the per-(topic, event type) detector: the spike is in this event type's items "
        "of the topic; None for the topic's own detector",
    )
