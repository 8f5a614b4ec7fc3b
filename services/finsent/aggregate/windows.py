"""Sliding-window counts for one topic, in one-minute buckets of event time.

Memory per topic is bounded by the longest window (24 h = 1,440 buckets at most, fewer when quiet):
buckets older than that are dropped as time advances."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

BUCKET_S = 60


@dataclass
class Counts:
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    score_sum: float = 0.0

    @property
    def total(self) -> int:
        return self.negative + self.neutral + self.positive

    @property
    def negative_share(self) -> float:
        return self.negative / self.total if self.total else 0.0

    @property
    def mean_score(self) -> float:
        return self.score_sum / self.total if self.total else 0.0

    def add(self, other: Counts) -> None:
        self.negative += other.negative
        self.neutral += other.neutral
        self.positive += other.positive
        self.score_sum += other.score_sum


class TopicWindows:
    def __init__(self, horizon_s: int) -> None:
        self._horizon = horizon_s
        self._buckets: OrderedDict[int, Counts] = OrderedDict()  # bucket start (epoch s) -> counts

    def __len__(self) -> int:
        return len(self._buckets)

    def add(self, at_s: float, label: str, score: float) -> None:
        key = int(at_s) // BUCKET_S * BUCKET_S
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Counts()
            if len(self._buckets) > 1 and key < next(reversed(self._buckets)):
                self._buckets = OrderedDict(sorted(self._buckets.items()))  # rare: late item
        setattr(bucket, label, getattr(bucket, label) + 1)
        bucket.score_sum += score

    def expire(self, now_s: float) -> None:
        cutoff = now_s - self._horizon - BUCKET_S
        while self._buckets and next(iter(self._buckets)) < cutoff:
            self._buckets.popitem(last=False)

    def window(self, now_s: float, length_s: int, *, end_offset_s: int = 0) -> Counts:
        """Counts of items with event time in (now - end_offset - length, now - end_offset]."""
        hi = now_s - end_offset_s
        lo = hi - length_s
        out = Counts()
        for start, counts in reversed(self._buckets.items()):
            if start + BUCKET_S <= lo:
                break
            if start <= hi:
                out.add(counts)
        return out
