"""A micro-batch's offsets to commit."""

from __future__ import annotations

from finsent.contracts.batch import Batch, RawRecord


def test_batch_commits_next_offset_per_partition():
    b = Batch(
        [
            RawRecord("t", 0, 5, None, b"", 0),
            RawRecord("t", 1, 9, None, b"", 0),
            RawRecord("t", 0, 7, None, b"", 0),
        ]
    )
    assert b.next_offsets() == {("t", 0): 8, ("t", 1): 10}
