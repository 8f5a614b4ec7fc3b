"""The promotion gate: a candidate replaces the serving model only if it is not worse.

On the golden set: macro-F1 may fall by at most `max_macro_f1_drop`, and no class's F1 by more than
`max_class_f1_drop`. On the held-out slice of the newest labels (when there are enough of them to
measure): macro-F1 by at most `max_macro_f1_drop` too; per-class F1 on a slice that small is noise,
so it is reported, not gated. With no serving model, the candidate is promoted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GateConfig:
    max_macro_f1_drop: float = 0.005  # 0.5 points
    max_class_f1_drop: float = 0.02  # 2 points


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)  # why, in sentences a report can show


def decide(
    candidate: dict[str, Any],
    serving: dict[str, Any] | None,
    cfg: GateConfig,
    *,
    candidate_recent: dict[str, Any] | None = None,
    serving_recent: dict[str, Any] | None = None,
) -> Decision:
    """`candidate`/`serving`: classification reports (macro_f1, per_class) on the golden set;
    `*_recent`: on the newest labels' held-out slice, or None when there is none."""
    if serving is None:
        return Decision(True, ["no model is serving yet: the first candidate is promoted"])
    failed: list[str] = []
    passed: list[str] = []
    drop = serving["macro_f1"] - candidate["macro_f1"]
    line = (
        f"golden macro-F1 {candidate['macro_f1']:.4f} vs serving {serving['macro_f1']:.4f} "
        f"(change {-drop:+.4f}, allowed drop {cfg.max_macro_f1_drop:.4f})"
    )
    (failed if drop > cfg.max_macro_f1_drop else passed).append(line)
    for label, cls in serving["per_class"].items():
        class_drop = cls["f1"] - candidate["per_class"][label]["f1"]
        if class_drop > cfg.max_class_f1_drop:
            failed.append(
                f"golden F1 of {label} fell {class_drop:.4f} "
                f"({cls['f1']:.4f} -> {candidate['per_class'][label]['f1']:.4f}; "
                f"allowed {cfg.max_class_f1_drop:.4f})"
            )
    if not any(s.startswith("golden F1 of") for s in failed):
        passed.append(f"no class's golden F1 fell by more than {cfg.max_class_f1_drop:.4f}")
    if candidate_recent is not None and serving_recent is not None:
        recent_drop = serving_recent["macro_f1"] - candidate_recent["macro_f1"]
        line = (
            f"newest-labels macro-F1 {candidate_recent['macro_f1']:.4f} vs serving "
            f"{serving_recent['macro_f1']:.4f} on {candidate_recent['n']} held-out labels "
            f"(change {-recent_drop:+.4f}, allowed drop {cfg.max_macro_f1_drop:.4f})"
        )
        (failed if recent_drop > cfg.max_macro_f1_drop else passed).append(line)
    if failed:
        return Decision(False, [f"rejected: {r}" for r in failed] + [f"passed: {r}" for r in passed])
    return Decision(True, [f"passed: {r}" for r in passed])
