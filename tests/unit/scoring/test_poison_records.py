"""Records that are not a valid NewsItem are dead-lettered with a reason, never raised: hand-picked
poison and fuzzed bytes and JSON (hypothesis)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finsent.contracts.batch import RawRecord
from finsent.contracts.news import DeadLetter, NewsItem
from finsent.scoring.validate import UNPROCESSABLE, parse_record

TS_MS = 1_767_625_200_000  # 2026-01-05 15:00 UTC


def parse(value: bytes, ts_ms: int = TS_MS) -> NewsItem | DeadLetter:
    return parse_record(RawRecord("news", 0, 7, None, value, ts_ms), max_bytes=262_144, payload_limit=64)


def _never_raises(value: bytes) -> None:
    out = parse(value)
    assert isinstance(out, NewsItem | DeadLetter)
    # What comes out must itself be writable to Kafka: a result that cannot be serialised would
    # fail the whole batch on every retry, which is the poison-record defect again.
    out.model_dump_json().encode("utf-8")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=40,
)


FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON | st.text(max_size=300),
        "text": JSON | st.text(max_size=300),
        "source": JSON | st.text(max_size=80),
        "published_at": JSON
        | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        | st.text(max_size=40),
        "topics": JSON | st.lists(st.text(max_size=70), max_size=40),
        "lang": JSON,
        "url": JSON,
        "meta": JSON,
    },
)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"[" * 1_000 + b"]" * 1_000, "invalid_json"),
        (b"[" * 10_000 + b"]" * 10_000, "invalid_json"),
        (b'{"id": "a", "text": "t", "n": ' + b"7" * 4_400 + b"}", "invalid_json"),
        (b'{"id": "a", "text": "t", "published_at": "9999-12-31T23:59:59-14:00"}', "invalid_field"),
        (b'{"id": "a", "text": "t", "meta": ' + b'{"a": ' * 900 + b"1" + b"}" * 901, None),
        (b'{"id": "a", "text": "lone \\ud800 surrogate"}', "invalid_field"),
    ],
    ids=["nested-1000", "nested-10000", "int-4400-digits", "date-overflow", "meta-nested-900", "surrogate"],
)
def test_poison_records_are_dead_lettered_not_raised(value, reason):
    out = parse(value)
    assert isinstance(out, DeadLetter)
    if reason:
        assert out.reason == reason
    assert out.detail
    DeadLetter.model_validate_json(out.model_dump_json())


def test_a_record_without_a_usable_time_is_dead_lettered():
    out = parse(json.dumps({"id": "a", "text": "t"}).encode(), ts_ms=10**18)
    assert isinstance(out, DeadLetter) and out.reason == "no_event_time"


def test_an_unforeseen_failure_is_dead_lettered(monkeypatch):
    import finsent.scoring.validate as validate

    def boom(*a, **k):
        raise MemoryError("injected")

    monkeypatch.setattr(validate.NewsItem, "model_validate", boom)
    out = parse(json.dumps({"id": "a", "text": "t"}).encode())
    assert isinstance(out, DeadLetter) and out.reason == UNPROCESSABLE and "MemoryError" in out.detail


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000))
def test_fuzz_arbitrary_bytes(value):
    _never_raises(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON | FIELDS)
def test_fuzz_arbitrary_json(obj):
    _never_raises(json.dumps(obj).encode())
