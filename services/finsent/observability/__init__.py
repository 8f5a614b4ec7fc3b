"""Logging helpers shared by the loops: `failure_streak` (back-off and one log line per streak),
`log_throttle` (repeated lines at most once a minute, with a count) and `progress` (progress bars
live at a terminal, a line a minute in a log file)."""

__all__ = ["failure_streak", "log_throttle", "progress"]
