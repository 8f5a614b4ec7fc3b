"""Progress bars that suit where they are written: a live tqdm bar at a terminal; in a log file
(`nohup finsent build-model ... > build.log &`, as long training runs are started) one plain line
per `log_interval_s`, so the log stays readable with `tail` and small over a run of hours instead of
holding a carriage-return redraw for every batch."""

from __future__ import annotations

import sys
from functools import cache
from typing import IO, Any

__all__ = ["LOG_INTERVAL_S", "progress_bar"]

LOG_INTERVAL_S = 60.0


class _Lines:
    """A text stream for tqdm that turns its in-place redraws into whole lines (blank ones, which
    tqdm writes to clear a finished bar, are dropped)."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            self._out.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self._out.flush()


@cache  # one class, made on first use: tqdm is imported only by what shows progress
def _bar_class() -> Any:
    from tqdm import tqdm

    class _Bar(tqdm):
        """A tqdm whose postfix (a running loss, say) waits for the next scheduled redraw instead of
        forcing one: set once per batch, it would otherwise redraw, and write a log line, per batch."""

        def set_postfix(self, ordered_dict: Any = None, refresh: bool = False, **kwargs: Any) -> None:
            super().set_postfix(ordered_dict, refresh, **kwargs)

    return _Bar


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(
    iterable: Any = None,
    *,
    enabled: bool = True,
    file: IO[str] | None = None,
    log_interval_s: float = LOG_INTERVAL_S,
    **options: Any,
) -> Any:
    """A tqdm bar over `iterable` (or of `total=`), written to `file` (default stderr): redrawn
    in place at a terminal; elsewhere a line at most every `log_interval_s` (and the last one).
    `enabled=False`: no output at all. `options` go to tqdm (desc, total, unit, leave, ...)."""
    out = sys.stderr if file is None else file
    if not _is_terminal(out):
        options = {**options, "mininterval": log_interval_s, "maxinterval": max(log_interval_s, 10.0)}
        options["file"] = _Lines(out)
        options["leave"] = True  # a log keeps the bar's last line (100%, elapsed), a terminal need not
        options["dynamic_ncols"] = False
        options.setdefault("ncols", 100)
    else:
        options["file"] = out
    return _bar_class()(iterable, disable=not enabled, **options)
