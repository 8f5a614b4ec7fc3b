"""Negative-spike detection for one topic: when an alert fires, how long it stays, when it resolves.

Every test compares a window's negative share `s` over `n` items with a baseline negative share
`p0` estimated from `m` items: z = (s - p0) / sqrt(p0 (1 - p0) (1/n + 1/m)), the two-proportion test,
so that a baseline read from little history (a young or quiet topic, a baseline that came out low
by chance) does not make an ordinary window look extreme. The baseline is the topic's negative share
over the baseline window before the short window, shrunk towards a prior (`prior_share`, worth
`prior_weight` items, counted in `m`) so that a quiet topic does not get a baseline of 0 or 1.

Firing (fast entry). A spike fires when either the short window (5 minutes) or the long window (20
minutes) has n >= min_volume, z >= z_fire and s >= p0 + min_delta. The short window catches a sharp
burst within a few minutes; the long one a slower burst (30 items over 20 minutes) or one read by an
imperfect model, whose 5-minute z never reaches the bar. Both tests are stateless, so late data
and replays re-assess exactly (aggregator.py).

A clean baseline. From `baseline_margin_s` before a spike's onset until it resolves, the topic's
minutes never enter its baseline, and while the spike lasts it is judged against the baseline
frozen at onset: a crisis does not become its own baseline.

Resolving (sustained). An active spike resolves when the resolve window (10 minutes) holds at least
`resolve_min_volume` items and its negative share is back near the frozen baseline (s <= p0 +
resolve_delta and z < z_resolve). Fewer items hold the state: a topic that goes quiet mid-crisis is
not declared recovered on silence. A re-fire within `cooldown_s` of a resolve re-opens the same
alert (same id and start) instead of starting a new one: cooldown merges notifications, it never
keeps a real spike from being reported.

A cap. A new normal must not stay alerted forever: after `max_alert_s` (6 hours) of continuous
alert the spike resolves with reason "rebaselined", and its minutes enter the baseline again, so the
topic's baseline becomes its new level.

Severity: critical when z >= z_critical or s >= critical_share on the window that fired.

`legacy=True` is the detector before all this (5-minute test only, a baseline that learns from the
spike, resolve on the short window's z, cooldown that blocks firing): kept only so that the
benchmark can measure both in one run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "Assessment",
    "Baseline",
    "DetectorConfig",
    "Severity",
    "SpikeState",
    "Transition",
    "assess",
    "assess_against",
    "baseline_share",
    "severity",
]


class DetectorConfig(BaseModel):
    short_window_s: int = Field(300, description="the window whose negative share is tested")
    long_window_s: int = Field(
        1200, ge=0, description="a second, longer entry window for slower bursts (0: the short one only)"
    )
    baseline_window_s: int = Field(21600, description="the window before it that sets the baseline")
    min_volume: int = Field(10, ge=1, description="fewest items in a window to fire")
    z_fire: float = Field(5.0, description="z-score to fire")
    z_resolve: float = Field(
        1.5, description="z-score, against the frozen baseline, under which a spike may resolve"
    )
    z_critical: float = Field(6.0, description="z-score for severity critical")
    min_delta: float = Field(0.3, description="a window's share must exceed the baseline by this much")
    long_min_delta: float = Field(
        0.2, description="the same for the long window: more items, so a smaller rise is already significant"
    )
    critical_share: float = Field(0.8, description="negative share for severity critical")
    prior_share: float = Field(0.2, ge=0.01, le=0.99, description="baseline negative share with no history")
    prior_weight: float = Field(50.0, ge=0, description="how many items the prior is worth")
    cooldown_s: int = Field(900, description="a re-fire this soon after a resolve re-opens the same alert")
    baseline_margin_s: int = Field(600, ge=0, description="minutes before an onset kept out of the baseline")
    resolve_window_s: int = Field(600, ge=60, description="the window judged for resolving")
    resolve_min_volume: int = Field(4, ge=1, description="fewest items in the resolve window to resolve")
    resolve_delta: float = Field(0.15, ge=0, description="resolve only within this of the frozen baseline")
    max_alert_s: int = Field(
        21600, ge=0, description="continuous alert after which the topic is re-baselined (0: never)"
    )
    legacy: bool = Field(False, description="the detector before the clean baseline (benchmarks only)")


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
    window_s: int = 0


@dataclass(frozen=True)
class Transition:
    kind: Literal["firing", "resolved"]
    severity: Severity
    assessment: Assessment
    started_at_s: float
    reason: str | None = None  # resolved: "recovered" or "rebaselined"


@dataclass
class SpikeState:
    """Per-topic detector state. It changes only at transitions (so the aggregator can replay any
    minute after the last one from a copy): the active spike, its start and frozen baseline, the last
    resolve (for re-opening within the cooldown), and the spans kept out of the baseline."""

    active: Severity = Severity.NONE
    started_at_s: float | None = None
    frozen_baseline: Baseline | None = None
    resolved_at_s: float = -math.inf
    resolved_started_at_s: float | None = None
    resolved_baseline: Baseline | None = None
    resolved_reason: str | None = None
    quiet_until_s: float = -math.inf  # legacy cooldown
    excluded: list[tuple[float, float]] = field(default_factory=list)  # [from, to) event-time spans
    last: Assessment | None = None

    def copy(self) -> SpikeState:
        out = SpikeState(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        out.excluded = list(self.excluded)
        return out

    def can_fire(self, cfg: DetectorConfig, volume: int, now_s: float) -> bool:
        """False when no assessment with this volume (the largest entry window's) could cause a
        transition (saves computing the baseline at every minute of a quiet topic)."""
        if self.active is not Severity.NONE:
            return True
        return volume >= cfg.min_volume and (not cfg.legacy or now_s >= self.quiet_until_s)

    def forget_before(self, cutoff_s: float) -> None:
        """Drop excluded spans that ended before `cutoff_s` (outside every window): bounded memory."""
        self.excluded = [(a, b) for a, b in self.excluded if b >= cutoff_s]

    # -- transitions -------------------------------------------------------------------------------
    def fire(self, cfg: DetectorConfig, a: Assessment, now_s: float, base: Baseline) -> Transition:
        self.active = severity(cfg, a)
        reopen = (
            not cfg.legacy
            and self.resolved_reason == "recovered"
            and now_s - self.resolved_at_s < cfg.cooldown_s
            and self.resolved_started_at_s is not None
        )
        if reopen:
            assert self.resolved_started_at_s is not None
            self.started_at_s = self.resolved_started_at_s
            self.frozen_baseline = self.resolved_baseline if self.resolved_baseline is not None else base
            # The re-opened spike's span runs on from where it was closed.
            if self.excluded and self.excluded[-1][1] == self.resolved_at_s:
                self.excluded[-1] = (self.excluded[-1][0], math.inf)
            else:
                self.excluded.append((now_s - cfg.baseline_margin_s, math.inf))
        else:
            self.started_at_s = now_s
            self.frozen_baseline = base
            if not cfg.legacy:
                self.excluded.append((now_s - cfg.baseline_margin_s - cfg.short_window_s, math.inf))
        return Transition("firing", self.active, a, self.started_at_s)

    def resolve(self, cfg: DetectorConfig, a: Assessment, now_s: float, reason: str) -> Transition:
        started = self.started_at_s if self.started_at_s is not None else now_s
        sev = self.active
        if self.excluded and self.excluded[-1][1] == math.inf:
            if reason == "rebaselined":  # the new normal becomes the baseline
                self.excluded.pop()
            else:
                self.excluded[-1] = (self.excluded[-1][0], now_s)
        self.resolved_at_s, self.resolved_started_at_s = now_s, started
        self.resolved_baseline, self.resolved_reason = self.frozen_baseline, reason
        self.active, self.started_at_s, self.frozen_baseline = Severity.NONE, None, None
        self.quiet_until_s = now_s + cfg.cooldown_s
        return Transition("resolved", sev, a, started, reason)

    def step(
        self,
        cfg: DetectorConfig,
        entry: list[Assessment],
        now_s: float,
        resolve: Assessment | None = None,
        base: Baseline | None = None,
    ) -> Transition | None:
        """One minute's decision. `entry`: the entry windows' assessments (against the clean
        baseline, or the frozen one while active); `resolve`: the resolve window's, against the
        frozen baseline (None: legacy, which resolves on the short window)."""
        self.last = entry[0]
        if self.active is Severity.NONE:
            if cfg.legacy and now_s < self.quiet_until_s:
                return None
            for a in entry:
                delta = (
                    cfg.long_min_delta
                    if a.window_s == cfg.long_window_s != cfg.short_window_s
                    else cfg.min_delta
                )
                if (
                    a.volume >= cfg.min_volume
                    and a.z >= cfg.z_fire
                    and a.negative_share >= a.baseline + delta
                ):
                    return self.fire(cfg, a, now_s, base or Baseline(a.baseline, 0.0))
            return None
        short = entry[0]
        if cfg.legacy:
            if short.z < cfg.z_resolve or short.volume < cfg.min_volume / 2:
                return self.resolve(cfg, short, now_s, "recovered")
        else:
            if (
                cfg.max_alert_s
                and self.started_at_s is not None
                and now_s - self.started_at_s >= cfg.max_alert_s
            ):
                return self.resolve(cfg, resolve or short, now_s, "rebaselined")
            if resolve is not None and _recovered(cfg, resolve):
                return self.resolve(cfg, resolve, now_s, "recovered")
        strongest = max(entry, key=lambda a: a.z)
        if severity(cfg, strongest) is Severity.CRITICAL and self.active is Severity.WARNING:
            self.active = Severity.CRITICAL
            return Transition("firing", Severity.CRITICAL, strongest, self.started_at_s or now_s)
        return None


def _recovered(cfg: DetectorConfig, a: Assessment) -> bool:
    """Enough items, and a negative share back near the frozen baseline."""
    return (
        a.volume >= cfg.resolve_min_volume
        and a.negative_share <= a.baseline + cfg.resolve_delta
        and a.z < cfg.z_resolve
    )


def severity(cfg: DetectorConfig, a: Assessment) -> Severity:
    if a.z >= cfg.z_critical or a.negative_share >= cfg.critical_share:
        return Severity.CRITICAL
    return Severity.WARNING


@dataclass(frozen=True)
class Baseline:
    """A baseline negative share and the items it was estimated from (the prior's included)."""

    share: float
    items: float


def baseline_share(cfg: DetectorConfig, base_negative: int, base_total: int) -> Baseline:
    """The baseline negative share: the history shrunk towards the prior, kept off 0 and 1."""
    p0 = (base_negative + cfg.prior_share * cfg.prior_weight) / (base_total + cfg.prior_weight)
    return Baseline(min(max(p0, 0.01), 0.99), base_total + cfg.prior_weight)


def assess_against(
    cfg: DetectorConfig, negative: int, total: int, base: Baseline, window_s: int = 0
) -> Assessment:
    """A window against a baseline (the legacy detector ignores the baseline's own uncertainty)."""
    p0 = base.share
    if not total:
        return Assessment(0, 0.0, p0, 0.0, window_s or cfg.short_window_s)
    s = negative / total
    spread = 1 / total + (1 / base.items if base.items and not cfg.legacy else 0.0)
    z = (s - p0) / math.sqrt(p0 * (1 - p0) * spread)
    return Assessment(total, s, p0, z, window_s or cfg.short_window_s)


def assess(
    cfg: DetectorConfig, short_negative: int, short_total: int, base_negative: int, base_total: int
) -> Assessment:
    return assess_against(cfg, short_negative, short_total, baseline_share(cfg, base_negative, base_total))
