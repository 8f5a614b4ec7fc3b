"""Logging helpers shared by the loops: `failure_streak` (back-off and one log line per streak)
and `log_throttle` (repeated lines at most once a minute, with a count)."""

__all__ = ["failure_streak", "log_throttle"]
