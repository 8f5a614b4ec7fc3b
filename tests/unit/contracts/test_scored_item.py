"""The ScoredItem contract: a change must stay backward compatible."""

from __future__ import annotations

from finsent.contracts.alert import AlertEvent
from finsent.contracts.news import ScoredItem
from finsent.contracts.topic_score import fan_out
from support.scenarios import T0

LEGAL, PRODUCT, MOVE = "Legal | Regulation", "Company | Product News", "Stock Movement"


def test_scored_item_contract_change_is_backward_compatible():
    old = {
        "id": "1", "topics": ["BA"], "source": "s", "published_at": "2026-01-05T13:00:00Z",
        "label": "negative", "probs": {"negative": 0.8, "neutral": 0.1, "positive": 0.1}, "score": -0.7,
        "model": {"name": "m", "version": "1"}, "scored_at": "2026-01-05T13:00:01Z",
    }  # fmt: skip
    item = ScoredItem.model_validate(old)  # a record written before the event head
    assert item.event_type is None and item.event_prob is None
    new = item.model_copy(update={"event_type": LEGAL, "event_prob": 0.9})
    assert [t.event_type for t in fan_out(new)] == [LEGAL]
    # An old reader (unknown keys ignored) still reads what the new scorer writes.
    assert "event_type" in new.model_dump_json()
    AlertEvent.model_validate(
        {
            "alert_id": "a",
            "status": "firing",
            "topic": "BA",
            "severity": "warning",
            "negative_share": 0.5,
            "baseline": 0.1,
            "zscore": 4.0,
            "volume": 10,
            "window_s": 300,
            "started_at": T0.isoformat(),
            "event_time": T0.isoformat(),
            "generated_at": T0.isoformat(),
        }
    )
