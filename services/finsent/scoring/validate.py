"""Stage 2: turn raw bytes into a `NewsItem`, or into a `DeadLetter` that says why not."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from finsent.contracts.batch import RawRecord
from finsent.contracts.news import DeadLetter, NewsItem

# Reason codes on the dead-letter topic (documented in the README).
NOT_UTF8 = "not_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
INVALID_FIELD = "invalid_field"
TOO_LARGE = "too_large"
EMPTY = "empty"
NO_EVENT_TIME = "no_event_time"
UNPROCESSABLE = "unprocessable"

M = TypeVar("M", bound=BaseModel)


def _summarise(err: ValidationError, limit: int = 5) -> str:
    parts = []
    for e in err.errors()[:limit]:
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        parts.append(f"{loc}: {e['msg']}")
    more = len(err.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def dead_letter(record: RawRecord, reason: str, detail: str, payload_limit: int) -> DeadLetter:
    value = record.value or b""
    kept = value[:payload_limit]
    return DeadLetter(
        reason=reason,
        detail=detail[:2_000],
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode("utf-8", "replace")[:256] if record.key is not None else None,
        payload=base64.b64encode(kept).decode("ascii"),
        payload_size=len(value),
        payload_truncated=len(kept) < len(value),
        rejected_at=datetime.now(UTC),
    )


def parse_record(record: RawRecord, *, max_bytes: int, payload_limit: int) -> NewsItem | DeadLetter:
    """Validate one record. Never raises for bad input: that is what the dead letter is for.

    Beyond the failures named here, anything else that goes wrong turning the bytes into an item
    (JSON nested thousands deep, an integer past Python's digit limit, a date that overflows, or a
    fault not foreseen) dead-letters the record as `unprocessable`: one poison record must never
    stop a partition, since it would be read again on every restart."""
    try:
        return _parse(record, max_bytes=max_bytes, payload_limit=payload_limit)
    except Exception as exc:  # the catch-all is the point: see the docstring
        return dead_letter(record, UNPROCESSABLE, f"{type(exc).__name__}: {exc}", payload_limit)


def _parse(record: RawRecord, *, max_bytes: int, payload_limit: int) -> NewsItem | DeadLetter:
    obj = decode_object(record, max_bytes=max_bytes, payload_limit=payload_limit)
    if isinstance(obj, DeadLetter):
        return obj
    item = validate_model(record, obj, NewsItem, payload_limit)
    if isinstance(item, DeadLetter) or item.published_at is not None:
        return item
    ts = record_time(record)
    if ts is None:
        return dead_letter(
            record,
            NO_EVENT_TIME,
            f"no published_at, and the record timestamp {record.timestamp_ms} is not a usable time",
            payload_limit,
        )
    return item.model_copy(update={"published_at": ts})


def decode_object(record: RawRecord, *, max_bytes: int, payload_limit: int) -> dict[str, Any] | DeadLetter:
    """The record's value as a JSON object, or the dead letter that says why it is not one. Raises
    only for faults not foreseen (callers catch everything: see parse_record)."""
    value = record.value
    if not value:
        return dead_letter(record, EMPTY, "the record has no value", payload_limit)
    if len(value) > max_bytes:
        return dead_letter(record, TOO_LARGE, f"{len(value)} bytes; the limit is {max_bytes}", payload_limit)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return dead_letter(record, NOT_UTF8, f"not valid UTF-8: {exc}", payload_limit)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return dead_letter(record, INVALID_JSON, f"not valid JSON: {exc}", payload_limit)
    except RecursionError:
        return dead_letter(record, INVALID_JSON, "JSON nested too deeply", payload_limit)
    except ValueError as exc:  # e.g. an integer longer than Python's int-string limit
        return dead_letter(record, INVALID_JSON, f"JSON value out of range: {exc}", payload_limit)
    if not isinstance(obj, dict):
        return dead_letter(
            record, NOT_AN_OBJECT, f"expected a JSON object, got {type(obj).__name__}", payload_limit
        )
    return obj


def validate_model(
    record: RawRecord, obj: dict[str, Any], model: type[M], payload_limit: int
) -> M | DeadLetter:
    """`obj` as a `model`, or a dead letter naming the missing or invalid fields."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        missing = any(e["type"] == "missing" for e in exc.errors())
        return dead_letter(
            record, MISSING_FIELD if missing else INVALID_FIELD, _summarise(exc), payload_limit
        )


def record_time(record: RawRecord) -> datetime | None:
    """The record's broker (or producer) timestamp, or None when it has none (-1) or it is absurd."""
    if record.timestamp_ms is None or record.timestamp_ms < 0:
        return None
    try:
        return datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
