"""The training commands' data: sentiment and event-type files merged into one example per text."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsent.app.training import DataError, load_training_data


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_no_files_is_a_data_error():
    with pytest.raises(DataError, match="--data"):
        load_training_data([], [], [], [])


def test_sentiment_and_event_files_merge_by_text_and_counts_add_up(tmp_path: Path):
    sentiment = write(
        tmp_path / "s.csv", "text,label", ["Shares fall on weak guidance,negative", "Flat day,neutral"]
    )
    events = write(tmp_path / "e.csv", "text,label", ["Shares fall on weak guidance,Earnings"])
    data = load_training_data([sentiment], [events], [], [])
    assert len(data.examples) == 2  # one per text, the event label joined to the sentiment one
    assert data.report.rows == 3
    assert data.eval_set is None
    evald = load_training_data([sentiment], [], [sentiment], [])
    assert evald.eval_set is not None and len(evald.eval_set) == 2
