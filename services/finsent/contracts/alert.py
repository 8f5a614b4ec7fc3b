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


class AlertEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    alert_id: str = Field(description="stable for one spike: the same id on its firing and resolved events")
    status: Literal["firing", "resolved"]
    topic: str
    severity: Literal["warning", "critical"]
    negative_share: float = Field(description="negative share in the short window")
    baseline: float = Field(description="the topic's baseline negative share")
    zscore: float
    volume: int = Field(description="items in the short window")
    window_s: int
    started_at: datetime = Field(description="event time the spike began")
    event_time: datetime = Field(description="event time of this assessment (the aggregator's watermark)")
    generated_at: datetime
    model: ModelRef | None = Field(default=None, description="model version of the newest evidence")
    evidence: list[Evidence] = Field(default_factory=list, description="the most negative recent items")
