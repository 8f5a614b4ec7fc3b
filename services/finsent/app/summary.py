"""The embedded run's summary: counts, dead letters, per-topic sentiment, alerts with evidence."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from finsent.contracts.alert import AlertEvent
from finsent.scoring.scorer import BatchOutcome


@dataclass
class Summary:
    consumed: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    seconds: float = 0.0
    model: str = ""
    alerts: list[AlertEvent] = field(default_factory=list)
    topics: list[dict[str, object]] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)

    def add(self, out: BatchOutcome) -> None:
        self.consumed += len(out.scored) + len(out.dead) + out.duplicates
        self.labels.update(s.label.value for s in out.scored)
        self.rejected.update(d.reason for d in out.dead)
        self.duplicates += out.duplicates

    def render(self) -> str:
        scored = sum(self.labels.values())
        rate = self.consumed / self.seconds if self.seconds else 0.0
        lines = [
            "",
            "FinSent run summary",
            f"  model            {self.model}",
            f"  records          {self.consumed} in {self.seconds:.1f}s ({rate:.0f}/s)",
            f"  scored           {scored}  "
            + "  ".join(f"{k} {self.labels[k]}" for k in ("negative", "neutral", "positive")),
            f"  dead-lettered    {sum(self.rejected.values())}  "
            + "  ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())),
            f"  duplicates       {self.duplicates}",
        ]
        if self.topics:
            w = self.windows
            lines += [
                "",
                "Per-topic sentiment at the end of the feed (event time)",
                f"  {'topic':<26}" + "".join(f"{'n/' + x:>9}{'neg%':>7}{'mean':>7}" for x in w) + "  alert",
            ]
            for row in self.topics[:20]:
                cells = "".join(f"{row[x][0]:>9}{row[x][1] * 100:>6.0f}%{row[x][2]:>7.2f}" for x in w)  # type: ignore[index]
                lines.append(f"  {row['topic']!s:<26}{cells}  {row['alert']}")
            if len(self.topics) > 20:
                lines.append(f"  ... and {len(self.topics) - 20} more topics")
        lines += ["", f"Alerts ({len(self.alerts)})"]
        for a in self.alerts:
            topic = f"{a.topic} / {a.event_type}" if a.event_type else a.topic
            lines.append(
                f"  {a.event_time:%Y-%m-%d %H:%M} {a.status.upper():<8} {a.severity:<8} {topic:<22} "
                f"negative {a.negative_share:.0%} vs baseline {a.baseline:.0%} ({_test(a)}, n={a.volume})"
            )
            if a.status != "firing":
                continue
            if a.negative_event_types:
                about = ", ".join(f"{c.event_type} {c.share:.0%}" for c in a.negative_event_types[:3])
                lines.append(f"      about: {about}")
            for e in a.evidence[:3]:
                kind = f"  [{e.event_type}]" if e.event_type else ""
                lines.append(f"      {e.score:+.2f}  {e.snippet}{kind}")
        return "\n".join(lines)


def _test(a: AlertEvent) -> str:
    """What the alert was decided on: the sequential evidence over its stretch, or a window's z."""
    minutes = f"{a.window_s // 60} min"
    if a.evidence_llr is not None:
        return f"sequential evidence {a.evidence_llr:.1f} over {minutes}"
    return f"z={a.zscore:.1f} over {minutes}"
