"""Negative-spike detection for one topic: when an alert fires, how long it stays, when it resolves.

Every test compares a window's negative share `s` over `n` items with a baseline negative share
`p0` estimated from `m` items: z = (s - p0) / sqrt(p0 (1 - p0) (1/n + 1/m)), the two-proportion test,
so that a baseline read from little history (a young or quiet topic, a baseline that came out low
by chance) does not make an ordinary window look extreme. The baseline is the topic's negative share
over the baseline window before the short window, shrunk towards a prior (`prior_share`, worth
`prior_weight` items, counted in `m`) so that a quiet topic does not get a baseline of 0 or 1.

Firing: two fast window tests and a sequential one. A spike fires when either the short window (5
minutes) or the long window (20 minutes) has n >= min_volume, z >= z_fire and s >= p0 + min_delta;
or when the sequential evidence (a Bernoulli CUSUM, below) reaches `scan_llr`. The short window
catches a sharp burst within a few minutes; the long one a slower burst (30 items over 20 minutes).
The sequential test accumulates evidence item by item against the hypothesis p1 = p0 + scan_shift:
each negative item adds log(p1/p0), every other one log((1-p1)/(1-p0)) (negative), and it fires
when the sum over the stretch of recent minutes that maximises it reaches `scan_llr` (with at least
`scan_min_volume` items and a share >= p0 + long_min_delta). That is the CUSUM statistic, computed
afresh at every minute over the last `scan_window_s` of one-minute buckets (the max over start
minutes of the sum since then): it needs no running state, so late data and replays re-assess it
exactly, like the window tests (aggregator.py). It is what catches a burst or a crisis read by an
imperfect model (a 15-minute burst whose 5-minute z stays near 4), and it fires on a sharp burst of
negatives after about seven of them. `scan_llr` (7) was chosen on the alert benchmark's tuning half
(bench/results/alerts-tune.json: the lowest value with no false alert there); docs/aggregation-and-
alerts.md gives its simulated false-alert rates.

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
alert the spike resolves with reason "rebaselined", and the topic's baseline starts afresh: every
minute before the cap leaves it, and its prior becomes the level the spike had at the cap (the
longest entry window's share), so the topic is judged against its new normal from then on.

Severity: critical when z >= z_critical or s >= critical_share on the window that fired.

`legacy=True` is the detector before all this (5-minute test only, a baseline that learns from the
spike, resolve on the short window's z, cooldown that blocks firing): kept only so that the
benchmark can measure both in one run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
    "scan",
    "scan_bar",
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
    scan_window_s: int = Field(
        3600, ge=0, description="the longest stretch the sequential (CUSUM) test sums evidence over (0: off)"
    )
    scan_shift: float = Field(
        0.3, gt=0, lt=1, description="the rise over the baseline share the sequential test is tuned to"
    )
    scan_llr: float = Field(7.0, gt=0, description="log-likelihood ratio at which the sequential test fires")
    scan_min_volume: int = Field(6, ge=1, description="fewest items in the sequential test's stretch to fire")
    scan_reference_rate: float = Field(
        20.0,
        gt=0,
        description="items an hour at which scan_llr applies; a busier topic needs log(rate/this) more",
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

    def with_volume_floor(self, items: int) -> DetectorConfig:
        """The same detector firing on no fewer than `items` items, by any test (the per-(topic,
        event type) detector's own floor)."""
        return self.model_copy(update={"min_volume": items, "scan_min_volume": items})


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
    llr: float | None = None  # the sequential test's evidence (None: a window test)
    llr_bar: float = 0.0  # and the evidence it needs to fire (scan_bar)


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
    prior_share: float | None = None  # the level a re-baselined topic restarts from (else the config's)
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
        floor = min(cfg.min_volume, cfg.scan_min_volume) if cfg.scan_window_s else cfg.min_volume
        return volume >= floor and (not cfg.legacy or now_s >= self.quiet_until_s)

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

    def resolve(
        self, cfg: DetectorConfig, a: Assessment, now_s: float, reason: str, level: float | None = None
    ) -> Transition:
        started = self.started_at_s if self.started_at_s is not None else now_s
        sev = self.active
        if self.excluded and self.excluded[-1][1] == math.inf:
            if reason == "rebaselined":
                # The new normal becomes the baseline: it starts afresh at the cap, from the level
                # the spike had then (the topic's prior from now on), and every minute before the
                # cap leaves it (a drift's early part would keep it below the new level for hours).
                self.excluded.pop()
                self.excluded.append((-math.inf, now_s))
                self.prior_share = level
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
                if _fires(cfg, a):
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
                level = max(entry, key=lambda e: e.volume).negative_share
                return self.resolve(cfg, resolve or short, now_s, "rebaselined", level)
            if resolve is not None and _recovered(cfg, resolve):
                return self.resolve(cfg, resolve, now_s, "recovered")
        strongest = max(entry, key=lambda a: a.z)
        if severity(cfg, strongest) is Severity.CRITICAL and self.active is Severity.WARNING:
            self.active = Severity.CRITICAL
            return Transition("firing", Severity.CRITICAL, strongest, self.started_at_s or now_s)
        return None


def _fires(cfg: DetectorConfig, a: Assessment) -> bool:
    """Whether one entry test fires: the sequential test on its evidence, a window test on its z;
    both only on enough items and a share clearly above the baseline."""
    if a.llr is not None:
        return (
            a.volume >= cfg.scan_min_volume
            and a.llr >= a.llr_bar
            and a.negative_share >= a.baseline + cfg.long_min_delta
        )
    delta = cfg.long_min_delta if a.window_s == cfg.long_window_s != cfg.short_window_s else cfg.min_delta
    return a.volume >= cfg.min_volume and a.z >= cfg.z_fire and a.negative_share >= a.baseline + delta


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
    span_s: float = 0.0  # the seconds of history it was read from (0: unknown, the whole window)


def baseline_share(
    cfg: DetectorConfig, base_negative: int, base_total: int, prior: float | None = None, span_s: float = 0.0
) -> Baseline:
    """The baseline negative share: the history shrunk towards the prior (the config's, or a
    re-baselined topic's own), kept off 0 and 1."""
    prior = cfg.prior_share if prior is None else prior
    p0 = (base_negative + prior * cfg.prior_weight) / (base_total + cfg.prior_weight)
    return Baseline(min(max(p0, 0.01), 0.99), base_total + cfg.prior_weight, span_s)


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


def scan(
    cfg: DetectorConfig, minutes: Sequence[tuple[int, int, int]], base: Baseline, now_s: float
) -> Assessment:
    """The sequential test at `now_s`: of the stretches of `minutes` (bucket start, negative, total;
    oldest first, all before now_s) that end now, the one with the most evidence for a negative share
    of p0 + scan_shift over p0, as an Assessment (its volume, share, two-proportion z, length, and
    log-likelihood ratio)."""
    p0 = base.share
    p1 = min(0.99, p0 + cfg.scan_shift)
    up, down = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
    evidence, best, since = 0.0, 0.0, now_s
    negative = total = best_negative = best_total = 0
    for start, neg, tot in reversed(minutes):
        evidence += neg * up + (tot - neg) * down
        negative, total = negative + neg, total + tot
        if evidence > best:
            best, best_negative, best_total, since = evidence, negative, total, start
    if not best_total:  # no evidence at all: no stretch
        return Assessment(0, 0.0, p0, 0.0, 0, llr=0.0, llr_bar=scan_bar(cfg, base))
    a = assess_against(cfg, best_negative, best_total, base, int(now_s - since))
    return replace(a, llr=best, llr_bar=scan_bar(cfg, base))


def scan_bar(cfg: DetectorConfig, base: Baseline) -> float:
    """The evidence the sequential test needs on a topic: `scan_llr`, plus log(rate / reference
    rate) on a topic busier than the reference. A CUSUM's false alarms come every so many *items*
    (their spacing grows like e^bar), so without this a topic with 9 times the items would have 9
    times the false alerts a day; with it, every topic has about those of one at the reference rate."""
    history = max(0.0, base.items - cfg.prior_weight)
    span = base.span_s or cfg.baseline_window_s
    rate = history * 3600 / span if span else 0.0
    return cfg.scan_llr + max(0.0, math.log(rate / cfg.scan_reference_rate)) if rate > 0 else cfg.scan_llr


def assess(
    cfg: DetectorConfig, short_negative: int, short_total: int, base_negative: int, base_total: int
) -> Assessment:
    return assess_against(cfg, short_negative, short_total, baseline_share(cfg, base_negative, base_total))
