"""Aggregation scenarios in event time, shared by the aggregation and reliability unit tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from finsent.contracts.alert import AlertEvent
from finsent.contracts.topic_score import TopicScore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WINDOWS = {"5m": 300, "1h": 3600, "24h": 86400}


def ev(i: int | str, topic: str, minute: float, label: str = "neutral", score: float = 0.0) -> TopicScore:
    return TopicScore(
        id=str(i),
        topic=topic,
        label=label,
        score=score,
        published_at=T0 + timedelta(minutes=minute),
        source="t",
        model_name="m",
        model_version="1",
        snippet=f"item {i}",
    )


def burst_scenario(seed: int = 7) -> list[TopicScore]:
    rng = random.Random(seed)
    out = []
    for minute in range(120):
        for topic in ("AAPL", "JPM", "XOM"):
            for k in range(3):
                neg = rng.random() < 0.15
                out.append(
                    ev(
                        f"{topic}-{minute}-{k}",
                        topic,
                        minute + k / 3,
                        "negative" if neg else "neutral",
                        -0.8 if neg else 0.1,
                    )
                )
        if minute >= 100:  # a burst on BA in the last 20 minutes, on top of a quiet baseline
            for k in range(4):
                out.append(ev(f"BA-b-{minute}-{k}", "BA", minute + k / 4, "negative", -0.9))
        elif minute % 3 == 0:
            out.append(ev(f"BA-{minute}", "BA", minute, "neutral", 0.2))
    return out


def alert_event(alert_id: str, generated_at: datetime) -> bytes:
    """A firing alert for BA as it sits on the alerts topic (AlertEvent JSON)."""
    at = datetime(2026, 1, 5, 15, 32, tzinfo=UTC)
    return (
        AlertEvent(
            alert_id=alert_id,
            status="firing",
            topic="BA",
            severity="critical",
            negative_share=0.8,
            baseline=0.16,
            zscore=5.5,
            volume=10,
            window_s=300,
            started_at=at,
            event_time=at,
            generated_at=generated_at,
        )
        .model_dump_json()
        .encode()
    )
