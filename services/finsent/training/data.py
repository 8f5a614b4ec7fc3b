"""Labelled data: CSV or JSONL with `text,label`, checked, de-duplicated and split.

A file is labelled for one head: sentiment (negative/neutral/positive) or event type (the names of
contracts/event_type.py). An Example carries a label for either head or both; each head trains on
the examples it has a label for."""

from __future__ import annotations

import csv
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from finsent.contracts.event_type import EVENT_TYPES
from finsent.contracts.news import LABELS
from finsent.inference.model_repo import sha256

LABEL_INDEX = {str(label): i for i, label in enumerate(LABELS)}
EVENT_INDEX = {name.lower(): i for i, name in enumerate(EVENT_TYPES)}
HEADS = ("sentiment", "event")
# Common spellings in public financial-sentiment sets, mapped onto ours.
LABEL_ALIASES = {
    "bearish": "negative",
    "bullish": "positive",
    "neg": "negative",
    "pos": "positive",
    "neu": "neutral",
}


class DataError(ValueError):
    """A training or evaluation file that cannot be used, with the reason."""


UNLABELLED = -1  # an Example's label when it has none: it trains on its soft targets alone


@dataclass
class Example:
    text: str
    label: int
    weight: float = 1.0  # how much its loss counts in training, e.g. less for a doubtful label
    soft: tuple[float, ...] | None = None  # a teacher's probabilities at the distillation temperature
    event: int = UNLABELLED  # index into EVENT_TYPES, when the text is labelled for the event head
    soft_event: tuple[float, ...] | None = None  # the teacher's event-type probabilities

    def target(self, head: str) -> int:
        return self.label if head == "sentiment" else self.event


@dataclass
class LoadReport:
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    rows: int = 0
    duplicates_dropped: int = 0
    conflicts_dropped: int = 0
    conflicts_resolved: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _label(raw: object, where: str, head: str = "sentiment") -> int:
    if head == "event":
        found = EVENT_INDEX.get(str(raw).strip().lower())
        if found is None:
            raise DataError(f"{where}: unknown event type {raw!r}; expected one of {', '.join(EVENT_TYPES)}")
        return found
    value = str(raw).strip().lower()
    value = LABEL_ALIASES.get(value, value)
    if value not in LABEL_INDEX:
        raise DataError(f"{where}: unknown label {raw!r}; expected one of {', '.join(LABEL_INDEX)}")
    return LABEL_INDEX[value]


def _rows(path: Path, need_label: bool = True) -> list[tuple[str, object, str]]:
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc}); re-encode the file as UTF-8") from exc
    if not content.strip():
        raise DataError(f"{path}: the file is empty")
    out: list[tuple[str, object, str]] = []
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        # JSON Lines are separated by "\n" alone: str.splitlines() would also cut inside a text at
        # U+2028, U+0085 and the other Unicode line breaks that json.dumps(ensure_ascii=False) keeps.
        for n, line in enumerate(content.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not valid JSON ({exc})") from exc
            if not isinstance(obj, dict) or "text" not in obj or (need_label and "label" not in obj):
                keys = "'text' and 'label'" if need_label else "'text'"
                raise DataError(f"{path}:{n}: each line needs the key(s) {keys}")
            out.append((str(obj["text"]), obj.get("label"), f"{path}:{n}"))
    else:
        reader = csv.DictReader(content.splitlines(keepends=True))
        needed = ("text", "label") if need_label else ("text",)
        if reader.fieldnames is None or not set(needed) <= set(reader.fieldnames):
            columns = " and ".join(repr(c) for c in needed)
            raise DataError(f"{path}: the CSV header must have {columns} (found {reader.fieldnames})")
        for n, row in enumerate(reader, start=2):
            out.append((row["text"] or "", row.get("label"), f"{path}:{n}"))
    if not out:
        raise DataError(f"{path}: no rows")
    return out


def load(paths: list[Path], head: str = "sentiment") -> tuple[list[Example], LoadReport]:
    """Read every file, labelled for `head`; de-duplicate by text. A text seen with several labels
    keeps its majority label, or is dropped when there is no majority."""
    if head not in HEADS:
        raise DataError(f"head {head!r}: expected one of {', '.join(HEADS)}")
    report = LoadReport()
    by_text: dict[str, Counter[int]] = defaultdict(Counter)
    order: list[str] = []
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        report.files[str(path)] = sha256(path)
        for text, raw_label, where in _rows(path):
            text = text.strip()
            if not text:
                raise DataError(f"{where}: empty text")
            label = _label(raw_label, where, head)
            report.rows += 1
            if text not in by_text:
                order.append(text)
            by_text[text][label] += 1
    examples: list[Example] = []
    for text in order:
        counts = by_text[text]
        report.duplicates_dropped += sum(counts.values()) - 1
        ranked = counts.most_common()
        if len(ranked) > 1:
            if ranked[0][1] == ranked[1][1]:
                report.conflicts_dropped += 1
                continue
            report.conflicts_resolved += 1
        if head == "sentiment":
            examples.append(Example(text, ranked[0][0]))
        else:
            examples.append(Example(text, UNLABELLED, event=ranked[0][0]))
    return examples, report


def merge_heads(sentiment: list[Example], events: list[Example]) -> list[Example]:
    """One example per text: a text in both a sentiment file and an event-type file trains both
    heads from one pass."""
    index = {e.text: i for i, e in enumerate(sentiment)}
    out = list(sentiment)  # new list, new examples where merged: the callers' lists stay as they were
    for ev in events:
        i = index.get(ev.text)
        if i is not None:
            out[i] = replace(out[i], event=ev.event)
        else:
            out.append(ev)
    return out


_LINK = re.compile(r"https?://\S+")


def repost_key(text: str) -> str:
    """Texts equal under this key are the same post (reposts differ in their t.co links, case and
    spacing): they must stay on one side of a split."""
    return " ".join(_LINK.sub(" ", text).lower().split())


def load_texts(paths: list[Path]) -> tuple[list[str], LoadReport]:
    """Unique non-empty texts of CSV (a `text` column) or JSONL (a `text` key) files; any label is
    ignored. Unlabelled text for distillation."""
    report = LoadReport()
    seen: set[str] = set()
    texts: list[str] = []
    for path in paths:
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        report.files[str(path)] = sha256(path)
        for text, _, _ in _rows(path, need_label=False):
            text = text.strip()
            report.rows += 1
            if not text or text in seen:
                report.duplicates_dropped += bool(text)
                continue
            seen.add(text)
            texts.append(text)
    return texts, report


def stratified_split(
    examples: list[Example], test_fraction: float, seed: int, head: str = "sentiment"
) -> tuple[list[Example], list[Example]]:
    rng = random.Random(seed)
    by_label: dict[int, list[Example]] = defaultdict(list)
    for ex in examples:
        by_label[ex.target(head)].append(ex)
    train: list[Example] = []
    test: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        n_test = round(len(group) * test_fraction)
        test.extend(group[:n_test])
        train.extend(group[n_test:])
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def repost_free_split(
    examples: list[Example], test_fraction: float, seed: int, head: str = "event"
) -> tuple[list[Example], list[Example]]:
    """Stratified by the head's label, with every group of reposts (same `repost_key`) kept whole
    on one side, so the held-out side measures texts the model has not seen in another wording.
    A group goes where its first member's label puts it."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        groups[repost_key(ex.text)].append(ex)
    leaders = [members[0] for members in groups.values()]
    _, test_leaders = stratified_split(leaders, test_fraction, seed, head)
    held_out = {repost_key(e.text) for e in test_leaders}
    rng = random.Random(seed + 1)
    train = [e for key, members in groups.items() if key not in held_out for e in members]
    test = [e for key, members in groups.items() if key in held_out for e in members]
    rng.shuffle(train)
    rng.shuffle(test)
    return train, test


def label_name(index: int, head: str) -> str:
    return str(LABELS[index]) if head == "sentiment" else EVENT_TYPES[index]


def write_jsonl(examples: list[Example], path: Path, head: str = "sentiment") -> None:
    """`text,label` lines for the examples labelled for `head` (the others are left out)."""
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            if ex.target(head) == UNLABELLED:
                continue
            line = {"text": ex.text, "label": label_name(ex.target(head), head)}
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
