"""Negative-spike detection for one topic.

The short window's negative share `s` (over `n` items) is compared with the topic's baseline `p0`:
its negative share over the baseline window just before the short window, shrunk towards a prior
(`prior_share`, worth `prior_weight` items) so that a quiet topic does not get a baseline of 0 or 1.
The z-score is binomial: z = (s - p0) / sqrt(p0 (1 - p0) / n).

A spike fires when n >= min_volume, z >= z_fire and s >= p0 + min_delta. It stays active until
z < z_resolve or n < min_volume / 2 (hysteresis), and a topic that just resolved cannot fire again
for `cooldown_s` of event time. Severity: critical when z >= z_critical or s >= critical_share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class DetectorConfig(BaseModel):
    short_window_s: int = Field(300, description="the window whose negative share is tested")
    baseline_window_s: int = Field(21600, description="the window before it that sets the baseline")
    min_volume: int = Field(10, ge=1, description="fewest items in the short window to fire")
    z_fire: float = Field(5.0, description="z-score to fire")
    z_resolve: float = Field(1.5, description="z-score under which an active spike resolves")
    z_critical: float = Field(6.0, description="z-score for severity critical")
    min_delta: float = Field(0.3, description="short share must exceed the baseline by this much")
    critical_share: float = Field(0.8, description="short-window negative share for severity critical")
    prior_share: float = Field(0.2, ge=0.01, le=0.99, description="baseline negative share with no history")
    prior_weight: float = Field(20.0, ge=0, description="how many items the prior is worth")
    cooldown_s: int = Field(900, description="event-time seconds after a resolve before a new fire")


class Severity(StrEnum):
    NONE = "none"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Assessment:
    volume: int
    negative_share: float
    baseline: float
    z: float


@dataclass(frozen=True)
class Transition:
    kind: Literal["firing", "resolved"]
    severity: Severity
    assessment: Assessment
    started_at_s: float


class SpikeState:
    """Per-topic detector state: the active spike, if any, and the cooldown."""

    def __init__(self) -> None:
        self.active: Severity = Severity.NONE
        self.started_at_s: float | None = None
        self.quiet_until_s: float = -math.inf
        self.last: Assessment | None = None

    def copy(self) -> SpikeState:
        out = SpikeState()
        out.active, out.started_at_s, out.quiet_until_s, out.last = (
            self.active,
            self.started_at_s,
            self.quiet_until_s,
            self.last,
        )
        return out

    def can_fire(self, cfg: DetectorConfig, volume: int, now_s: float) -> bool:
        """False when no assessment with this short-window volume could cause a transition (saves
        computing the baseline at every minute of a quiet topic)."""
        return self.active is not Severity.NONE or (volume >= cfg.min_volume and now_s >= self.quiet_until_s)

    def step(self, cfg: DetectorConfig, a: Assessment, now_s: float) -> Transition | None:
        self.last = a
        if self.active is Severity.NONE:
            if now_s < self.quiet_until_s:
                return None
            if (
                a.volume >= cfg.min_volume
                and a.z >= cfg.z_fire
                and a.negative_share >= a.baseline + cfg.min_delta
            ):
                self.active = severity(cfg, a)
                self.started_at_s = now_s
                return Transition("firing", self.active, a, now_s)
            return None
        if a.z < cfg.z_resolve or a.volume < cfg.min_volume / 2:
            started = self.started_at_s or now_s
            sev, self.active, self.started_at_s = self.active, Severity.NONE, None
            self.quiet_until_s = now_s + cfg.cooldown_s
            return Transition("resolved", sev, a, started)
        upgraded = severity(cfg, a)
        if upgraded is Severity.CRITICAL and self.active is Severity.WARNING:
            self.active = upgraded
            return Transition("firing", upgraded, a, self.started_at_s or now_s)
        return None


def severity(cfg: DetectorConfig, a: Assessment) -> Severity:
    if a.z >= cfg.z_critical or a.negative_share >= cfg.critical_share:
        return Severity.CRITICAL
    return Severity.WARNING


def assess(
    cfg: DetectorConfig, short_negative: int, short_total: int, base_negative: int, base_total: int
) -> Assessment:
    p0 = (base_negative + cfg.prior_share * cfg.prior_weight) / (base_total + cfg.prior_weight)
    p0 = min(max(p0, 0.01), 0.99)
    s = short_negative / short_total if short_total else 0.0
    z = (s - p0) / math.sqrt(p0 * (1 - p0) / short_total) if short_total else 0.0
    return Assessment(volume=short_total, negative_share=s, baseline=p0, z=z)
