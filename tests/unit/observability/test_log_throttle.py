"""An outage is a few log lines, not a flood: library errors demoted and throttled, FinSent's own kept."""

from __future__ import annotations

import logging

from finsent.observability.log_throttle import LibraryLogThrottle


def test_library_errors_are_demoted_and_throttled():
    now = [0.0]
    throttle = LibraryLogThrottle(remind_s=60, clock=lambda: now[0])

    def record(name: str, level: int, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, msg, ("127.0.0.1:9092",), None)

    first = record("kafka.conn", logging.ERROR, "Connect attempt to %s returned error 111")
    assert throttle.filter(first) and first.levelno == logging.WARNING
    passed = 0
    for _ in range(100):
        now[0] += 0.25
        passed += throttle.filter(
            record("kafka.conn", logging.ERROR, "Connect attempt to %s returned error 111")
        )
    assert passed == 0  # 25 s of reconnects: held back
    now[0] += 40
    reminder = record("kafka.conn", logging.ERROR, "Connect attempt to %s returned error 111")
    assert throttle.filter(reminder) and "100 similar lines held back" in reminder.getMessage()
    own = record("finsent.scorer", logging.ERROR, "ours")
    assert throttle.filter(own) and own.levelno == logging.ERROR
