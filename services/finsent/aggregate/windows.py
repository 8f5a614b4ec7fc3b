"""Sliding-window counts for one topic, in one-minute buckets of event time.

Memory per topic is bounded by the longest window (24 h = 1,440 buckets at most, fewer when quiet):
buckets older than that are dropped as time advances."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

BUCKET_S = 60


def parse_window(text: str, *, allow_zero: bool = False) -> int:
    """Seconds in a duration such as `5m`, `6h`, `1d` (the windows and other durations of the settings);
    `0s` only where `allow_zero` (a setting whose zero means off)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    least = 0 if allow_zero else 1
    if not text or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) < least:
        hint = "0s or " if allow_zero else ""
        raise ValueError(f"window {text!r}: expected a number and a unit s, m, h or d (e.g. {hint}5m)")
    return int(text[:-1]) * units[text[-1]]


def bucket_of(at_s: float) -> int:
    """The start of the one-minute bucket holding event time `at_s` (epoch seconds)."""
    return math.floor(at_s) // BUCKET_S * BUCKET_S


@dataclass
class Counts:
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    score_sum: float = 0.0
    # Items by event type, and negative items by event type (bounded: the taxonomy and "Other").
    events: Counter[str] = field(default_factory=Counter)
    negative_events: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.negative + self.neutral + self.positive

    @property
    def negative_share(self) -> float:
        return self.negative / self.total if self.total else 0.0

    @property
    def mean_score(self) -> float:
        return self.score_sum / self.total if self.total else 0.0

    def add(self, other: Counts, *, events: bool = False) -> None:
        self.negative += other.negative
        self.neutral += other.neutral
        self.positive += other.positive
        self.score_sum += other.score_sum
        if events:
            self.events.update(other.events)
            self.negative_events.update(other.negative_events)


class TopicWindows:
    """Buckets keyed by minute, with their keys kept sorted so that a window is a bisect and a walk
    over its own buckets only, wherever in the horizon it lies (late data is re-assessed at old
    minutes, a backlog is assessed minute by minute)."""

    def __init__(self, horizon_s: int) -> None:
        self._horizon = horizon_s
        self._buckets: dict[int, Counts] = {}  # bucket start (epoch s) -> counts
        self._keys: list[int] = []  # sorted

    def __len__(self) -> int:
        return len(self._buckets)

    def add(self, at_s: float, label: str, score: float, event_type: str | None = None) -> None:
        key = bucket_of(at_s)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Counts()
            # A bucket first seen after a later one (a backlog, skewed partitions) goes in its place:
            # appending it would leave the keys out of order and windows would miss buckets.
            if not self._keys or key > self._keys[-1]:
                self._keys.append(key)
            else:
                bisect.insort(self._keys, key)
        setattr(bucket, label, getattr(bucket, label) + 1)
        bucket.score_sum += score
        if event_type is not None:
            bucket.events[event_type] += 1
            if label == "negative":
                bucket.negative_events[event_type] += 1

    def expire(self, now_s: float) -> None:
        cutoff = now_s - self._horizon - BUCKET_S
        n = bisect.bisect_left(self._keys, cutoff)
        for key in self._keys[:n]:
            del self._buckets[key]
        del self._keys[:n]

    def window(
        self,
        now_s: float,
        length_s: int,
        *,
        end_offset_s: int = 0,
        events: bool = False,
        exclude: Sequence[tuple[float, float]] = (),
    ) -> Counts:
        """Counts of the buckets overlapping [now - end_offset - length, now - end_offset); with
        `events`, the counts by event type too (only where they are shown: an alert, a gauge);
        buckets starting inside an `exclude` span [from, to) left out (a spike's minutes, kept out
        of its topic's baseline).

        At a minute boundary b the window is the whole minutes before b and nothing of the minute
        starting at b: an assessment at b depends only on items before b, so it is the same however
        the stream was cut into polls (the minute after b may be half-read when b is assessed)."""
        out = Counts()
        for key in self._keys_overlapping(now_s - end_offset_s, length_s):
            if exclude and any(a <= key < b for a, b in exclude):
                continue
            out.add(self._buckets[key], events=events)
        return out

    def minutes(self, now_s: float, length_s: int) -> list[tuple[int, int, int]]:
        """(bucket start, negative, total) of each non-empty bucket in [now - length, now), oldest
        first: the same buckets `window` would sum, for a test that needs them one by one."""
        return [
            (key, (c := self._buckets[key]).negative, c.total)
            for key in self._keys_overlapping(now_s, length_s)
        ]

    def _keys_overlapping(self, hi: float, length_s: int) -> list[int]:
        """Keys of the buckets overlapping [hi - length, hi): start > hi - length - BUCKET_S (they
        end after the window's start) and start < hi."""
        first = bisect.bisect_right(self._keys, hi - length_s - BUCKET_S)
        return self._keys[first : bisect.bisect_left(self._keys, hi)]

    def first_s(self) -> int | None:
        """The start of the oldest bucket held (None: nothing yet)."""
        return self._keys[0] if self._keys else None
