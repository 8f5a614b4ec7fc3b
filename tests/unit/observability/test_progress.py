"""Progress bars: redrawn in place at a terminal; in a log file, whole lines, at most one per
interval, and the last state kept."""

from __future__ import annotations

import io

from finsent.observability.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_file_a_bar_writes_whole_lines_and_keeps_its_last_state():
    log = io.StringIO()
    for _ in progress_bar(range(500), file=log, desc="epoch 1/2", unit="batch", leave=False):
        pass
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # The first draw and the final 100% (kept although leave=False asked a terminal to clear it);
    # the 498 updates in between fall inside one interval.
    assert 1 <= len(lines) <= 3, lines
    assert lines[-1].startswith("epoch 1/2: 100%") and "500/500" in lines[-1]


def test_in_a_log_file_a_long_run_writes_a_line_per_interval(monkeypatch):
    import tqdm.std

    now = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: now[0])
    log = io.StringIO()
    bar = progress_bar(file=log, total=100, desc="epoch 1/1", log_interval_s=60)
    for step in range(100):
        now[0] += 6.0  # a step every 6 s: 10 minutes in all
        bar.update(1)
        bar.set_postfix(loss=f"{1 / (step + 1):.4f}")  # as the training loop does, every batch
    bar.close()
    lines = log.getvalue().splitlines()
    assert 9 <= len(lines) <= 13, lines  # about one a minute, not one per step
    assert "loss=0.0100" in lines[-1]  # the postfix is still shown, at the next redraw


def test_at_a_terminal_the_bar_redraws_in_place():
    term = _Terminal()
    for _ in progress_bar(range(3), file=term, desc="x", mininterval=0):
        pass
    assert "\r" in term.getvalue()


def test_a_disabled_bar_writes_nothing():
    log = io.StringIO()
    for _ in progress_bar(range(10), enabled=False, file=log):
        pass
    assert log.getvalue() == ""
