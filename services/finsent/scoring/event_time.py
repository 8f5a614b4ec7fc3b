"""Event-time bounding: one record's clock must never move everyone's.

The aggregator's clock is event time, so a single item dated 2999 would make every later item look
late, and one dated 1970 would sit in no window. An item's event time is its `published_at`, bounded
by the record's own timestamp (the broker's or producer's clock when it was written):

    record_ts - max_past_s  <=  event_time  <=  record_ts + max_future_s

An item outside that range is clamped to the nearer bound, counted
(`finsent_event_time_clamped_total{direction}`) and marked on the `ScoredItem`
(`event_time_clamped`); its `published_at` is kept as the producer sent it. A record without a
usable timestamp is not bounded. In the embedded replay the feed stands in for the broker: a
record's reference is a robust maximum of the times around it (see `replay.feed_clock`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FUTURE = "future"
PAST = "past"


@dataclass(frozen=True)
class EventTimePolicy:
    max_future_s: float = 300.0
    max_past_s: float = 7 * 86_400.0  # 0: no lower bound

    def bound(self, published: datetime, reference: datetime | None) -> tuple[datetime, str | None]:
        """(event time, None) or (the clamped time, FUTURE | PAST)."""
        if reference is None:
            return published, None
        try:
            latest = reference + timedelta(seconds=self.max_future_s)
            if published > latest:
                return latest, FUTURE
            if self.max_past_s:
                earliest = reference - timedelta(seconds=self.max_past_s)
                if published < earliest:
                    return earliest, PAST
        except OverflowError:  # a reference at the edge of datetime's range: nothing to bound by
            return published, None
        return published, None
