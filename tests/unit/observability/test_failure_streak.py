"""FailureStreak: back-off doubling to a cap, the first failure and then one reminder a minute in the
log, and one line when the streak ends."""

from __future__ import annotations

import logging

from finsent.observability.failure_streak import FailureStreak


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_to_the_cap_and_the_log_says_it_once_a_minute(caplog):
    clock = Clock()
    streak = FailureStreak(logging.getLogger("t"), max_backoff_s=10.0, clock=clock)
    caplog.set_level(logging.WARNING, logger="t")
    delays = []
    for _ in range(6):
        delays.append(streak.failed("down (%s); %d failures, next in %.0fs", "boom"))
        clock.now += 5
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert [r.getMessage() for r in caplog.records] == ["down (boom); 1 failures, next in 1s"]
    clock.now += 60
    streak.failed("down (%s); %d failures, next in %.0fs", "boom")
    assert caplog.records[-1].getMessage() == "down (boom); 7 failures, next in 10s"
    streak.succeeded("back after %d failures")
    assert caplog.records[-1].getMessage() == "back after 7 failures"
    assert streak.count == 0


def test_success_without_a_streak_says_nothing(caplog):
    streak = FailureStreak(logging.getLogger("t"), max_backoff_s=10.0)
    caplog.set_level(logging.WARNING, logger="t")
    streak.succeeded("back after %d failures")
    assert caplog.records == []
    assert streak.failed("down (%s) %d %.0f", "x") == 1.0  # a new streak starts from the first delay
