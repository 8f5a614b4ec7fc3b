"""Training data files: what write_jsonl writes, load reads back unchanged, whatever the text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from finsent.training.data import Example, load, write_jsonl

# Texts as they come from tweets and news: any printable character, the Unicode line and paragraph
# separators and NEL included (json.dumps(ensure_ascii=False) writes those unescaped).
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60).filter(
    lambda t: t.strip() == t and t
)


def test_a_text_with_a_unicode_line_separator_survives_a_jsonl_round_trip(tmp_path: Path):
    path = tmp_path / "split.jsonl"
    examples = [Example("Shares fall\u2028after the recall", 0), Example("NEL\x85inside", 2)]
    write_jsonl(examples, path)
    assert [(e.text, e.label) for e in load([path])[0]] == [(e.text, e.label) for e in examples]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, st.integers(0, 2)), min_size=1, max_size=8, unique_by=lambda t: t[0]))
def test_write_jsonl_then_load_gives_the_same_examples(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("rt") / "f.jsonl"
    write_jsonl([Example(text, label) for text, label in rows], path)
    assert [(e.text, e.label) for e in load([path])[0]] == rows
