"""Labelled data: CSV or JSONL with `text,label`, checked, de-duplicated and split."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from finsent.contracts.news import LABELS
from finsent.inference.model_repo import sha256

LABEL_INDEX = {str(label): i for i, label in enumerate(LABELS)}
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


@dataclass
class LoadReport:
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256
    rows: int = 0
    duplicates_dropped: int = 0
    conflicts_dropped: int = 0
    conflicts_resolved: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _label(raw: object, where: str) -> int:
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
        for n, line in enumerate(content.splitlines(), start=1):
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


def load(paths: list[Path]) -> tuple[list[Example], LoadReport]:
    """Read every file; de-duplicate by text. A text seen with several labels keeps its majority
    label, or is dropped when there is no majority."""
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
            label = _label(raw_label, where)
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
        examples.append(Example(text, ranked[0][0]))
    return examples, report


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
    examples: list[Example], test_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    rng = random.Random(seed)
    by_label: dict[int, list[Example]] = defaultdict(list)
    for ex in examples:
        by_label[ex.label].append(ex)
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


def write_jsonl(examples: list[Example], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps({"text": ex.text, "label": str(LABELS[ex.label])}, ensure_ascii=False) + "\n")
