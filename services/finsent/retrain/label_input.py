"""Label events from outside: Kafka records (`finsent.labels`) and analysts' files
(`finsent labels import`). Bad input is rejected with its reason, never stored and never fatal."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from finsent.contracts.batch import RawRecord
from finsent.contracts.label import LabelEvent
from finsent.contracts.news import DeadLetter
from finsent.scoring.validate import UNPROCESSABLE, dead_letter, decode_object, validate_model
from finsent.training.data import LABEL_ALIASES

MAX_LABEL_BYTES = 64 * 1024


def parse_label_record(record: RawRecord, *, payload_limit: int = 16_384) -> LabelEvent | DeadLetter:
    """One `finsent.labels` record as a LabelEvent, or the dead letter that says why not. Never raises
    for bad input (the same guarantee, and reason codes, as the news validator)."""
    try:
        obj = decode_object(record, max_bytes=MAX_LABEL_BYTES, payload_limit=payload_limit)
        if isinstance(obj, DeadLetter):
            return obj
        return validate_model(record, _normalise_label(obj), LabelEvent, payload_limit)
    except Exception as exc:  # one poison record must not stop the stream of labels
        return dead_letter(record, UNPROCESSABLE, f"{type(exc).__name__}: {exc}", payload_limit)


def _normalise_label(obj: dict[str, Any]) -> dict[str, Any]:
    """Accept the label spellings training files accept (Bullish, NEG, ...)."""
    label = obj.get("label")
    if isinstance(label, str):
        value = label.strip().lower()
        return {**obj, "label": LABEL_ALIASES.get(value, value)}
    return obj


@dataclass
class FileImport:
    events: list[LabelEvent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "file:line: reason"
    rows: int = 0


def read_label_file(path: Path, *, labeller: str | None, now: datetime | None = None) -> FileImport:
    """Label events from a CSV (header with at least `text,label`) or JSONL file. Optional columns:
    `item_id` (default: derived from the text), `labeller` (default: the `labeller` argument),
    `labelled_at` (default: now), `note`. Every bad row is reported with its line and reason; the
    good ones are kept."""
    out = FileImport()
    now = now or datetime.now(UTC)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        out.errors.append(f"{path}: no such file")
        return out
    except UnicodeDecodeError as exc:
        out.errors.append(f"{path}: not UTF-8 text ({exc.reason})")
        return out
    for where, row in _rows(path, content, out.errors):
        out.rows += 1
        if not isinstance(row, dict):
            out.errors.append(f"{where}: expected a JSON object")
            continue
        # A CSV row with extra cells has them under the key None; they are ignored.
        filled = {k: v for k, v in row.items() if isinstance(k, str) and v not in (None, "")}
        filled.setdefault("labelled_at", now.isoformat())
        if labeller:
            filled.setdefault("labeller", labeller)
        if isinstance(filled.get("text"), str):
            digest = hashlib.sha256(" ".join(filled["text"].split()).encode()).hexdigest()[:16]
            filled.setdefault("item_id", f"import:{digest}")
        try:
            out.events.append(LabelEvent.model_validate(_normalise_label(filled)))
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors()[:3]
            )
            if not labeller and any(e["loc"] == ("labeller",) for e in exc.errors()):
                reasons += " (give a labeller column or --labeller)"
            out.errors.append(f"{where}: {reasons}")
    out.errors.sort(key=_line_number)
    return out


def _line_number(error: str) -> int:
    head = error.split(": ", 1)[0]
    number = head.rpartition(":")[2]
    return int(number) if number.isdigit() else 0


def _rows(path: Path, content: str, errors: list[str]) -> list[tuple[str, object]]:
    if path.suffix.lower() in {".jsonl", ".ndjson"}:
        rows: list[tuple[str, object]] = []
        for n, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append((f"{path}:{n}", json.loads(line)))
            except (ValueError, RecursionError) as exc:
                errors.append(f"{path}:{n}: not valid JSON ({type(exc).__name__})")
        return rows
    reader = csv.DictReader(content.splitlines(keepends=True))
    if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
        errors.append(f"{path}: the CSV header must have 'text' and 'label' (found {reader.fieldnames})")
        return []
    return [(f"{path}:{n}", dict(row)) for n, row in enumerate(reader, start=2)]
