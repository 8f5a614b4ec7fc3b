"""Recently scored ids: expiry by age and size."""

from __future__ import annotations

from finsent.scoring.dedup import RecentIds


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_recent_ids_expire_by_ttl_and_size():
    clock = Clock()
    ids = RecentIds(max_size=3, ttl_s=10, clock=clock)
    for i in "abc":
        ids.add(i)
    assert "a" in ids and len(ids) == 3
    ids.add("d")  # over the size bound: the oldest goes
    assert "a" not in ids and "d" in ids and len(ids) == 3
    clock.t = 11
    assert "d" not in ids and len(ids) == 0


def test_recent_ids_disabled():
    ids = RecentIds(max_size=0, ttl_s=10)
    ids.add("a")
    assert "a" not in ids
