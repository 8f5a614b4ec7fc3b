"""Validation stage: every kind of bad input gets its reason; good input becomes a NewsItem."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from finsent.contracts.batch import RawRecord
from finsent.contracts.news import DeadLetter, NewsItem
from finsent.scoring.validate import parse_record


def rec(value: bytes | None, ts_ms: int = 1_767_625_200_000) -> RawRecord:
    return RawRecord("news", 3, 42, b"k", value, ts_ms)


def parse(value: bytes | None, **kw) -> NewsItem | DeadLetter:
    return parse_record(rec(value), max_bytes=kw.get("max_bytes", 30_000), payload_limit=kw.get("limit", 100))


def test_valid_item_defaults_published_at_to_record_timestamp():
    item = parse(
        json.dumps({"id": " a1 ", "text": "  Shares rise ", "topics": ["AAPL", "AAPL", "tech"]}).encode()
    )
    assert isinstance(item, NewsItem)
    assert item.id == "a1" and item.text == "Shares rise"
    assert item.topics == ["AAPL", "tech"]
    assert item.published_at == datetime.fromtimestamp(1_767_625_200, UTC)


def test_published_at_is_normalised_to_utc():
    item = parse(json.dumps({"id": "a", "text": "t", "published_at": "2026-01-05T15:00:00+02:00"}).encode())
    assert isinstance(item, NewsItem)
    assert item.published_at == datetime(2026, 1, 5, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"", "empty"),
        (b"\xff\xfe", "not_utf8"),
        (b"{not json", "invalid_json"),
        (b"42", "not_an_object"),
        (json.dumps({"text": "x"}).encode(), "missing_field"),
        (json.dumps({"id": "a"}).encode(), "missing_field"),
        (json.dumps({"id": "", "text": "x"}).encode(), "invalid_field"),
        (json.dumps({"id": "a", "text": 5}).encode(), "invalid_field"),
        (json.dumps({"id": "a", "text": "x" * 20_001}).encode(), "invalid_field"),
        (
            json.dumps({"id": "a", "text": "x", "published_at": "2026-01-05T10:00:00"}).encode(),
            "invalid_field",
        ),
        (json.dumps({"id": "a", "text": "x", "meta": {"blob": "m" * 5000}}).encode(), "invalid_field"),
        (json.dumps({"id": "a", "text": "x", "topics": ["t"] * 33}).encode(), "invalid_field"),
        (b'{"id": "a", "text": "' + b"x" * 40_000 + b'"}', "too_large"),
    ],
)
def test_rejects_with_reason(value, reason):
    out = parse(value)
    assert isinstance(out, DeadLetter)
    assert out.reason == reason
    assert out.detail
    assert (out.topic, out.partition, out.offset, out.key) == ("news", 3, 42, "k")


def test_dead_letter_keeps_bounded_payload():
    value = json.dumps({"id": "a", "text": 7, "pad": "p" * 500}).encode()
    out = parse(value, limit=100)
    assert isinstance(out, DeadLetter)
    assert base64.b64decode(out.payload) == value[:100]
    assert out.payload_size == len(value) and out.payload_truncated
    assert "text" in out.detail
