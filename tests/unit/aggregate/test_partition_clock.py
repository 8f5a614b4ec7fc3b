"""The watermark over partitions: assignment, idle and empty partitions, allowed lateness."""

from __future__ import annotations

import pytest

from finsent.aggregate.partition_clock import PartitionClock


def test_an_empty_partition_does_not_hold_the_clock_after_an_assignment():
    """After a (re)start, a partition whose end offset is where reading starts has nothing to
    wait for: alerts due from the other partitions' backlog come at once, not idle_s later."""
    clock = PartitionClock(idle_s=30.0)
    clock.assigned(["p0", "p1"], now=0.0, empty=["p1"])
    clock.delivered("p0", 1_000.0, now=0.5)
    assert clock.safe_time(now=0.5, clock=600.0) == 1_000.0
    clock.delivered("p1", 900.0, now=1.0)  # new data after all: it holds the clock again
    assert clock.safe_time(now=1.0, clock=600.0) == 900.0
    held = PartitionClock(idle_s=30.0)
    held.assigned(["p0", "p1"], now=0.0)
    held.delivered("p0", 1_000.0, now=0.5)
    assert held.safe_time(now=0.5, clock=600.0) == 600.0  # without the end offsets: held 30 s


def test_a_partition_that_has_not_delivered_holds_the_clock_until_it_goes_idle():
    clock = PartitionClock(idle_s=30.0)
    clock.assigned(["p0", "p1"], now=0.0)
    clock.delivered("p0", 1_000.0, now=1.0)
    assert clock.safe_time(now=1.0, clock=600.0) == 600.0  # p1 may still bring earlier minutes
    clock.delivered("p1", 900.0, now=2.0)
    assert clock.safe_time(now=2.0, clock=600.0) == 900.0  # the slowest partition's newest event
    assert clock.safe_time(now=31.5, clock=600.0) == 900.0  # p0 idle: p1 alone counts
    assert clock.safe_time(now=40.0, clock=600.0) == 1_000.0  # all idle: everything seen
    clock.assigned(["p2"], now=50.0)
    clock.delivered("p2", None, now=51.0)  # only unreadable records: silence, not a delivery
    assert clock.safe_time(now=79.0, clock=700.0) == 700.0
    assert clock.safe_time(now=81.0, clock=700.0) is None  # idle with nothing seen


def test_the_clock_stays_the_allowed_lateness_behind_until_every_partition_is_idle():
    clock = PartitionClock(idle_s=30.0, lateness_s=60.0)
    clock.assigned(["p0", "p1"], now=0.0)
    clock.delivered("p0", 1_000.0, now=1.0)
    clock.delivered("p1", 900.0, now=2.0)
    assert clock.safe_time(now=2.0, clock=600.0) == 840.0  # items up to 60 s late may still come
    assert clock.safe_time(now=31.5, clock=600.0) == 840.0  # p0 idle: p1 alone, still less 60 s
    assert clock.safe_time(now=40.0, clock=600.0) == 1_000.0  # all idle: nothing more is coming
    with pytest.raises(ValueError, match="lateness_s"):
        PartitionClock(idle_s=30.0, lateness_s=-1.0)
