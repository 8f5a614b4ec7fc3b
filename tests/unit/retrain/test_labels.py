"""The label store (durable, hash-checked, crash-safe appends), label resolution, label input
(Kafka records and files, fuzzed) and the promotion gate."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finsent.contracts.batch import RawRecord
from finsent.contracts.label import LabelEvent
from finsent.contracts.news import DeadLetter
from finsent.retrain.gate import GateConfig, decide
from finsent.retrain.label_input import parse_label_record, read_label_file
from finsent.retrain.label_store import LabelStore, resolve, stats
from finsent.retrain.ledger import RunLedger

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def event(text: str, label: str, labeller: str = "ana", minutes: int = 0, item: str = "i1") -> LabelEvent:
    return LabelEvent(
        item_id=item, text=text, label=label, labeller=labeller, labelled_at=T0 + timedelta(minutes=minutes)
    )


def record(value: bytes | None, offset: int = 0) -> RawRecord:
    return RawRecord("finsent.labels", 0, offset, None, value, 1_700_000_000_000)


# --- the store ----------------------------------------------------------------------------------


def test_store_round_trips_and_survives_a_torn_append(tmp_path: Path):
    store = LabelStore(tmp_path)
    store.append([event("Shares fell", "negative"), event("Profit rose", "positive")], now=T0)
    (path,) = store.files()
    with path.open("ab") as f:  # a crash in the middle of an append: half a line, no newline
        f.write(b'{"event": {"item_id": "x", "te')
    got = store.read()
    assert [e.text for e in got.events] == ["Shares fell", "Profit rose"]
    assert len(got.damaged) == 1 and "torn" in got.damaged[0]
    # The next append cuts the torn tail first, so the new line is whole and readable.
    store.append([event("Guidance cut", "negative")], now=T0)
    got = store.read()
    assert [e.text for e in got.events] == ["Shares fell", "Profit rose", "Guidance cut"]
    assert got.damaged == []


def test_store_skips_a_line_whose_hash_does_not_match(tmp_path: Path):
    store = LabelStore(tmp_path)
    store.append([event("Shares fell", "negative"), event("Profit rose", "positive")], now=T0)
    (path,) = store.files()
    lines = path.read_text().splitlines()
    tampered = json.loads(lines[0])
    tampered["event"]["label"] = "positive"  # a flipped bit on disk must not become a wrong label
    path.write_text(json.dumps(tampered) + "\n" + lines[1] + "\n")
    got = store.read()
    assert [e.text for e in got.events] == ["Profit rose"]
    assert "hash mismatch" in got.damaged[0]


def test_store_files_are_per_month(tmp_path: Path):
    store = LabelStore(tmp_path)
    store.append([event("a", "negative")], now=T0)
    store.append([event("b", "negative")], now=T0 + timedelta(days=40))
    assert [p.name for p in store.files()] == ["labels-2026-11.jsonl", "labels-2026-12.jsonl"]
    assert store.count() == 2


# --- resolution -----------------------------------------------------------------------------------


def test_latest_label_of_a_labeller_wins_and_majority_decides_between_labellers():
    events = [
        event("Shares fell", "neutral", "ana", 0),
        event("Shares fell", "negative", "ana", 5),  # ana changed her mind: the later one counts
        event("shares   FELL", "negative", "bo", 1),  # the same text, spaced and cased differently
        event("shares fell", "positive", "cy", 2),
        event("Profit rose", "positive", "ana", 0),
        event("Profit rose", "negative", "bo", 0),  # a tie between two labellers: left out
        event("Profit rose", "positive", "ana", 0),  # replayed duplicate (at-least-once): counts once
    ]
    out = resolve(events)
    assert [(r.text, r.label, r.labellers) for r in out.labels] == [("Shares fell", "negative", 3)]
    assert out.replaced == 2 and out.conflicts_resolved == 1 and out.conflicts_unresolved == 1


def test_an_older_label_arriving_late_does_not_replace_a_newer_one():
    out = resolve([event("Shares fell", "negative", "ana", 10), event("Shares fell", "neutral", "ana", 0)])
    assert out.labels[0].label == "negative"


def test_stats_by_label_labeller_and_age(tmp_path: Path):
    store = LabelStore(tmp_path)
    store.append([event("a", "negative", "ana", 0), event("b", "positive", "bo", 0)], now=T0)
    store.append([event("c", "negative", "ana", 60 * 24 * 10)], now=T0)
    out = stats(store.read(), now=T0 + timedelta(days=10, hours=1))
    assert out["events"] == 3
    assert out["by_label"] == {"negative": 2, "positive": 1}
    assert out["by_labeller"] == {"ana": 2, "bo": 1}
    assert out["by_age"] == {"under 1 day": 1, "1-7 days": 0, "7-30 days": 2, "over 30 days": 0}


# --- input ----------------------------------------------------------------------------------------


def test_a_valid_label_record_parses_with_aliases():
    value = json.dumps(
        {
            "item_id": "n-1",
            "text": "Guidance cut",
            "label": "Bearish",
            "labeller": "desk-7",
            "labelled_at": "2026-11-20T10:00:00+01:00",
        }
    ).encode()
    got = parse_label_record(record(value))
    assert isinstance(got, LabelEvent)
    assert got.label == "negative" and got.labelled_at == datetime(2026, 11, 20, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    "value,reason",
    [
        (b"", "empty"),
        (b"\xff\xfe", "not_utf8"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'{"text": "x", "label": "negative"}', "missing_field"),
        (
            b'{"item_id": "1", "text": "x", "label": "maybe", "labeller": "a", '
            b'"labelled_at": "2026-11-20T10:00:00Z"}',
            "invalid_field",
        ),
        (  # a time without a zone is ambiguous: rejected, not guessed
            b'{"item_id": "1", "text": "x", "label": "negative", "labeller": "a", '
            b'"labelled_at": "2026-11-20T10:00:00"}',
            "invalid_field",
        ),
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
    ],
)
def test_bad_label_records_are_dead_lettered_with_a_reason(value: bytes, reason: str):
    got = parse_label_record(record(value, offset=9))
    assert isinstance(got, DeadLetter)
    assert got.reason == reason and got.offset == 9 and got.detail


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=2_000))
def test_fuzz_label_records_from_arbitrary_bytes_never_raise(value: bytes):
    got = parse_label_record(record(value))
    assert isinstance(got, LabelEvent | DeadLetter)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "item_id": JSON | st.text(max_size=300),
        "text": JSON | st.text(max_size=50),
        "label": JSON | st.sampled_from(["negative", "neutral", "positive", "Bullish", "NEG", ""]),
        "labeller": JSON | st.text(max_size=200),
        "labelled_at": JSON
        | st.sampled_from(["2026-11-20T10:00:00Z", "9999-12-31T23:59:59-14:00", "2026-13-01", "now"]),
        "note": JSON,
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(FIELDS)
def test_fuzz_label_records_from_arbitrary_json_objects(obj: dict):
    got = parse_label_record(record(json.dumps(obj).encode()))
    if isinstance(got, LabelEvent):  # whatever is accepted is a well-formed label
        assert got.text and got.labeller and got.labelled_at.tzinfo is not None
        assert got.label in ("negative", "neutral", "positive")
    else:
        assert got.reason in {"missing_field", "invalid_field"}


def test_label_file_import_keeps_good_rows_and_reports_bad_ones(tmp_path: Path):
    path = tmp_path / "labels.csv"
    path.write_text(
        "text,label,labeller,labelled_at,note\n"
        "Shares fell on the warning,negative,,2026-11-20T10:00:00Z,\n"
        "Profit rose,bullish,bo,,strong quarter\n"
        "Board meets,sideways,,,\n"
        ",neutral,,,\n"
        "Guidance cut,negative,,2026-11-20T10:00:00,\n"
    )
    got = read_label_file(path, labeller="desk-1", now=T0)
    assert [(e.text, e.label, e.labeller) for e in got.events] == [
        ("Shares fell on the warning", "negative", "desk-1"),
        ("Profit rose", "positive", "bo"),
    ]
    assert got.events[1].labelled_at == T0 and got.events[1].note == "strong quarter"
    assert got.events[0].item_id.startswith("import:")
    assert [e.split(": ", 1)[0] for e in got.errors] == [f"{path}:4", f"{path}:5", f"{path}:6"]
    assert "label" in got.errors[0] and "text" in got.errors[1] and "labelled_at" in got.errors[2]


def test_label_file_without_a_labeller_says_how_to_give_one(tmp_path: Path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"text": "Shares fell", "label": "negative"}\nnot json\n')
    got = read_label_file(path, labeller=None)
    assert got.events == []
    assert "--labeller" in got.errors[0] and "not valid JSON" in got.errors[1]


# --- the gate -------------------------------------------------------------------------------------


def report(macro: float, neg: float, neu: float, pos: float, n: int = 100) -> dict:
    return {
        "macro_f1": macro,
        "n": n,
        "per_class": {"negative": {"f1": neg}, "neutral": {"f1": neu}, "positive": {"f1": pos}},
    }


def test_gate_promotes_a_model_that_is_not_worse():
    d = decide(report(0.800, 0.8, 0.8, 0.8), report(0.803, 0.81, 0.8, 0.8), GateConfig(0.005, 0.02))
    assert d.promote and all(r.startswith("passed") for r in d.reasons)


def test_gate_rejects_a_macro_f1_drop_beyond_the_tolerance():
    d = decide(report(0.790, 0.79, 0.79, 0.79), report(0.800, 0.8, 0.8, 0.8), GateConfig(0.005, 0.02))
    assert not d.promote and "golden macro-F1" in d.reasons[0]


def test_gate_rejects_one_class_collapsing_even_when_macro_f1_holds():
    d = decide(report(0.810, 0.95, 0.95, 0.53), report(0.800, 0.8, 0.8, 0.8), GateConfig(0.005, 0.02))
    assert not d.promote and "F1 of positive fell" in d.reasons[0]


def test_gate_checks_the_newest_labels_when_there_is_a_slice():
    good = report(0.8, 0.8, 0.8, 0.8)
    d = decide(
        good,
        good,
        GateConfig(),
        candidate_recent=report(0.6, 0.6, 0.6, 0.6),
        serving_recent=report(0.7, 0.7, 0.7, 0.7),
    )
    assert not d.promote and "newest-labels" in d.reasons[0]


def test_gate_promotes_the_first_model():
    assert decide(report(0.3, 0.3, 0.3, 0.3), None, GateConfig()).promote


# --- ledger and locks -----------------------------------------------------------------------------


def test_ledger_records_runs_and_finds_abandoned_ones(tmp_path: Path):
    ledger = RunLedger(tmp_path / "runs.db")
    a = ledger.start("schedule", 10)
    ledger.finish(a, "failed", "boom")
    b = ledger.start("schedule", 12)
    ledger.finish(b, "failed", "boom")
    c = ledger.start("schedule", 15)  # its process died
    assert ledger.consecutive_failures() == 2
    assert ledger.abandon_unfinished() == [c]
    assert ledger.counts() == {"promoted": 0, "rejected": 0, "failed": 2, "abandoned": 1, "skipped": 0}
    d = ledger.start("manual", 20)
    ledger.finish(d, "rejected", "worse")
    assert ledger.consecutive_failures() == 0 and ledger.last(("rejected",)).labels_total == 20


def test_skipped_runs_are_counted_and_only_the_newest_kept(tmp_path: Path):
    from finsent.retrain import ledger as ledger_module

    ledger = RunLedger(tmp_path / "runs.db")
    for _ in range(ledger_module.KEEP_SKIPPED + 30):
        ledger.finish(ledger.start("schedule", 0), "skipped", "too few new labels")
    ledger.finish(ledger.start("schedule", 5), "promoted", "better")
    assert ledger.counts()["skipped"] == ledger_module.KEEP_SKIPPED + 30  # the counter never goes back
    assert len(ledger.runs()) == ledger_module.KEEP_SKIPPED + 1  # the rows are bounded
    assert ledger.runs()[0].outcome == "promoted"


@pytest.mark.parametrize(
    "env,message",
    [
        ({"FINSENT_RETRAIN_CRON": "0 3 * * * *"}, "5 fields"),
        ({"FINSENT_RETRAIN_INTERVAL": "soon"}, "expected a number and a unit"),
        ({"FINSENT_RETRAIN_MAX_MACRO_F1_DROP": "2"}, "less than or equal to 1"),
    ],
)
def test_retraining_settings_are_checked(monkeypatch: pytest.MonkeyPatch, env: dict, message: str):
    from pydantic import ValidationError

    from finsent.settings import Settings

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError, match=message):
        Settings()
