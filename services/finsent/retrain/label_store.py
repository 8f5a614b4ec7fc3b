"""The label store: analysts' label events, kept durably in append-only JSONL files.

One line per event, `{"sha256": ..., "event": {...}}`, the hash taken over the event's canonical JSON.
An append takes a file lock, first cuts a torn last line left by a crash (it was never acknowledged:
appends return only after fsync), writes, and fsyncs. A reader checks every line's hash and skips
(and counts) a line that does not match, so a damaged line never becomes a wrong label and never
hides the lines after it. Files are per month, so old ones can be archived whole."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from finsent.contracts.label import LabelEvent
from finsent.locks import exclusive

PREFIX = "labels-"
LOCK = ".lock"


def canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(event: LabelEvent) -> str:
    return hashlib.sha256(canonical(event.model_dump(mode="json")).encode()).hexdigest()


@dataclass
class StoreContents:
    events: list[LabelEvent] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # "file:line: why", for lines that were skipped


class LabelStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _locked(self) -> AbstractContextManager[None]:
        return exclusive(self.folder / LOCK)

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob(f"{PREFIX}*.jsonl"))

    def append(self, events: Sequence[LabelEvent], *, now: datetime | None = None) -> int:
        """Write `events` durably; returns once they are on disk (fsync). An empty list writes nothing."""
        if not events:
            return 0
        lines = "".join(
            canonical({"sha256": event_hash(e), "event": e.model_dump(mode="json")}) + "\n" for e in events
        )
        month = (now or datetime.now(UTC)).strftime("%Y-%m")
        with self._locked():
            path = self.folder / f"{PREFIX}{month}.jsonl"
            with path.open("ab+") as f:
                _cut_torn_tail(f)
                f.write(lines.encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(self.folder)  # a new file's name is durable too
        return len(events)

    def read(self) -> StoreContents:
        out = StoreContents()
        for path in self.files():
            with path.open("rb") as f:
                for n, raw in enumerate(f, start=1):
                    problem = _check_line(raw, out.events)
                    if problem:
                        out.damaged.append(f"{path.name}:{n}: {problem}")
        return out

    def count(self) -> int:
        return len(self.read().events)


def _check_line(raw: bytes, into: list[LabelEvent]) -> str | None:
    """Append the line's event to `into` when it is whole and its hash matches; else say why not."""
    if not raw.endswith(b"\n"):
        return "torn line (an append that did not finish)"
    try:
        obj = json.loads(raw)
        event = LabelEvent.model_validate(obj["event"])
        recorded = obj["sha256"]
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        return f"unreadable ({type(exc).__name__})"
    if hashlib.sha256(canonical(obj["event"]).encode()).hexdigest() != recorded:
        return "content hash mismatch"
    into.append(event)
    return None


def _cut_torn_tail(f: BinaryIO) -> None:
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return
    f.seek(size - 1)
    if f.read(1) == b"\n":
        return
    # Walk back to the last newline; everything after it is a write that never completed.
    pos = size
    while pos > 0:
        step = min(4096, pos)
        f.seek(pos - step)
        chunk = f.read(step)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            f.truncate(pos - step + cut + 1)
            return
        pos -= step
    f.truncate(0)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- from events to training examples ------------------------------------------------------------


def text_key(text: str) -> str:
    """Texts that differ only in case or spacing are one text."""
    return " ".join(text.split()).casefold()


@dataclass
class ResolvedLabel:
    text: str
    label: str
    labelled_at: datetime  # the newest label event behind it
    labellers: int


@dataclass
class Resolution:
    labels: list[ResolvedLabel]
    events: int
    replaced: int  # a labeller's earlier label of a text, replaced by their later one
    conflicts_resolved: int  # texts where labellers disagreed and a majority decided
    conflicts_unresolved: int  # ... and no majority: left out of training

    def as_dict(self) -> dict[str, int]:
        return {
            "events": self.events,
            "texts": len(self.labels),
            "replaced": self.replaced,
            "conflicts_resolved": self.conflicts_resolved,
            "conflicts_unresolved": self.conflicts_unresolved,
        }


def resolve(events: Sequence[LabelEvent]) -> Resolution:
    """One label per text: each labeller's latest label counts once; the majority of labellers wins;
    a tie is left out (and counted), since either label would teach the model a coin flip."""
    latest: dict[str, dict[str, LabelEvent]] = {}
    replaced = 0
    for e in events:
        by_labeller = latest.setdefault(text_key(e.text), {})
        seen = by_labeller.get(e.labeller)
        if seen is not None:
            replaced += 1
            if e.labelled_at < seen.labelled_at:
                continue
        by_labeller[e.labeller] = e
    labels: list[ResolvedLabel] = []
    resolved = unresolved = 0
    for by_labeller in latest.values():
        votes = Counter(str(e.label) for e in by_labeller.values())
        ranked = votes.most_common()
        if len(ranked) > 1:
            if ranked[0][1] == ranked[1][1]:
                unresolved += 1
                continue
            resolved += 1
        newest = max(by_labeller.values(), key=lambda e: e.labelled_at)
        labels.append(ResolvedLabel(newest.text, ranked[0][0], newest.labelled_at, len(by_labeller)))
    return Resolution(labels, len(events), replaced, resolved, unresolved)


AGE_BUCKETS = (("under 1 day", 86_400), ("1-7 days", 7 * 86_400), ("7-30 days", 30 * 86_400))


def stats(contents: StoreContents, *, now: datetime | None = None) -> dict[str, object]:
    """What `finsent labels stats` shows: events by label, labeller and age, and how they resolve."""
    now = now or datetime.now(UTC)
    events = contents.events
    resolution = resolve(events)
    ages: Counter[str] = Counter()
    for e in events:
        age = (now - e.labelled_at).total_seconds()
        ages[next((name for name, limit in AGE_BUCKETS if age < limit), "over 30 days")] += 1
    return {
        "events": len(events),
        "by_label": dict(sorted(Counter(str(e.label) for e in events).items())),
        "by_labeller": dict(Counter(e.labeller for e in events).most_common()),
        "by_age": {name: ages[name] for name in [*(n for n, _ in AGE_BUCKETS), "over 30 days"]},
        "training_labels": dict(sorted(Counter(r.label for r in resolution.labels).items())),
        "resolution": resolution.as_dict(),
        "damaged_lines": len(contents.damaged),
    }
