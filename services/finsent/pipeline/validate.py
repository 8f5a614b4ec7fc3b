"""Stage 2: turn raw bytes into a `NewsItem`, or into a `DeadLetter` that says why not."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from pydantic import ValidationError

from finsent.contracts import DeadLetter, NewsItem
from finsent.pipeline.records import RawRecord

# Reason codes on the dead-letter topic (documented in the README).
NOT_UTF8 = "not_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
INVALID_FIELD = "invalid_field"
TOO_LARGE = "too_large"
EMPTY = "empty"


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
    """Validate one record. Never raises for bad input: that is what the dead letter is for."""
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
    if not isinstance(obj, dict):
        return dead_letter(
            record, NOT_AN_OBJECT, f"expected a JSON object, got {type(obj).__name__}", payload_limit
        )
    try:
        item = NewsItem.model_validate(obj)
    except ValidationError as exc:
        missing = any(e["type"] == "missing" for e in exc.errors())
        return dead_letter(
            record, MISSING_FIELD if missing else INVALID_FIELD, _summarise(exc), payload_limit
        )
    if item.published_at is None:
        ts = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
        item = item.model_copy(update={"published_at": ts})
    return item
