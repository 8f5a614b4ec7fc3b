"""Event-type data: files checked against the taxonomy, one example per text for both heads, the
repost-free split (hypothesis), macro-F1 over the classes present, and `finsent split`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finsent.contracts.event_type import EVENT_TYPES
from finsent.training.data import (
    UNLABELLED,
    DataError,
    Example,
    load,
    merge_heads,
    repost_free_split,
    repost_key,
)
from finsent.training.scoring_metrics import classification_report

LEGAL, PRODUCT, MOVE = "Legal | Regulation", "Company | Product News", "Stock Movement"


def finsent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "finsent.cli", *args], capture_output=True, text=True)


posts = st.lists(
    st.tuples(
        st.sampled_from(["Acme up", "Beta down", "Gamma sued", "Delta buys Eps", "Fed holds", "Oil rises"]),
        st.integers(0, 3),  # which repost variant
        st.integers(0, 19),
    ),
    min_size=1,
    max_size=60,
)


def test_event_files_are_checked_against_the_taxonomy(tmp_path):
    good = tmp_path / "events.csv"
    good.write_text('text,label\n"Court fines Acme",legal | regulation\n"Acme buys Beta",M&A | Investments\n')
    examples, _ = load([good], head="event")
    assert [(e.label, EVENT_TYPES[e.event]) for e in examples] == [
        (UNLABELLED, LEGAL),
        (UNLABELLED, "M&A | Investments"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nAcme wins,Weather\n")
    with pytest.raises(DataError, match=r"bad.csv:2: unknown event type 'Weather'"):
        load([bad], head="event")


def test_a_text_in_both_files_trains_both_heads():
    sentiment = [Example("Acme sued by regulator", 0), Example("Acme flat", 1)]
    events = [Example("Acme sued by regulator", UNLABELLED, event=12), Example("Oil up", UNLABELLED, event=6)]
    merged = merge_heads(sentiment, events)
    assert [(e.text, e.label, e.event) for e in merged] == [
        ("Acme sued by regulator", 0, 12),
        ("Acme flat", 1, UNLABELLED),
        ("Oil up", UNLABELLED, 6),
    ]
    assert sentiment[0].event == UNLABELLED  # the callers' examples are not changed (reused elsewhere)


def test_repost_key_ignores_links_case_and_spacing():
    a = "Acme beats estimates  https://t.co/AbC123"
    b = "ACME beats estimates https://t.co/zzz999 "
    assert repost_key(a) == repost_key(b) == "acme beats estimates"
    assert repost_key("Acme misses estimates") != repost_key(a)


@settings(max_examples=60, deadline=None)
@given(posts, st.integers(0, 1000))
def test_reposts_never_straddle_the_split(rows, seed):
    """Property: whatever the data, texts equal without links/case/spacing land on one side only,
    and nothing is lost or duplicated."""

    def variant(text: str, v: int, n: int) -> str:
        return [text, f"{text} https://t.co/x{n}", f"{text}  https://t.co/y{n} ", text.upper()][v]

    examples = [Example(variant(text, v, n), UNLABELLED, event=e) for n, (text, v, e) in enumerate(rows)]
    train, test = repost_free_split(examples, 0.3, seed)
    assert sorted(e.text for e in train + test) == sorted(e.text for e in examples)
    assert not {repost_key(e.text) for e in train} & {repost_key(e.text) for e in test}


def test_macro_f1_counts_only_classes_in_the_truth_or_the_predictions():
    report = classification_report(np.array([0, 0, 5, 5]), np.array([0, 0, 5, 4]), EVENT_TYPES)
    # classes 0, 4, 5 appear: F1 1.0, 0.0, 0.667 -> 0.556, not diluted by the 17 absent types
    assert report["macro_f1"] == pytest.approx((1.0 + 0.0 + 2 / 3) / 3)
    assert report["labels"] == list(EVENT_TYPES) and len(report["confusion_matrix"]) == 20


def test_train_needs_some_data():
    r = finsent("train", "--out", "/tmp/never-written")
    assert r.returncode != 0 and "--data (sentiment) and/or --event-data" in r.stderr


def test_split_command_writes_a_repost_free_split(tmp_path):
    data = tmp_path / "topics.csv"
    rows = ["text,label"]
    for i in range(40):
        rows.append(f'"Acme {i} beats https://t.co/a{i}",Financials')
        rows.append(f'"ACME {i} beats https://t.co/b{i}",Financials')  # a repost
    data.write_text("\n".join(rows) + "\n")
    r = finsent(
        "split", "--data", str(data), "--train-out", str(tmp_path / "tr.jsonl"), "--test-out",
        str(tmp_path / "te.jsonl"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    train = [json.loads(x)["text"] for x in (tmp_path / "tr.jsonl").read_text().splitlines()]
    test = [json.loads(x)["text"] for x in (tmp_path / "te.jsonl").read_text().splitlines()]
    assert len(train) + len(test) == 80 and 8 <= len(test) <= 16
    assert not {repost_key(t) for t in train} & {repost_key(t) for t in test}
