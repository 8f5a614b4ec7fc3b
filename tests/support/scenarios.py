"""Scenarios in event time: TopicScores for the aggregation unit tests, and the one builder of
scenario news (NewsItem JSON) that the integration tests produce to Kafka."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
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


# -- scenario news ----------------------------------------------------------------------------------
# Each burst item is its own story (a figure of its own), as a real burst is: the story novelty
# filter counts copies of one headline once, and five fixed headlines would be five stories.
NEGATIVE = [
    "{c} shares plunge after profit warning on ${n} million charge",
    "{c} faces mounting safety questions after defect report on {n} aircraft",
    "{c} lowers its sales forecast, citing weak orders and {n} job cuts",
    "Investigation launched into {c} over ${n} million of reporting irregularities",
    "{c} posts unexpected ${n} million loss in latest quarter",
]
STEADY = {"AAPL": "Apple", "MSFT": "Microsoft", "JPM": "JPMorgan", "XOM": "Exxon Mobil"}


def news_stream(
    start: datetime,
    *,
    minutes: int,
    burst: tuple[str, str],
    burst_minutes: range,
    burst_per_minute: int,
    steady_per_minute: int,
    mix: tuple[float, float, float],
    quiet_every: int,
    burst_texts: Sequence[str] = NEGATIVE,
    seed: int,
    source: str,
) -> list[bytes]:
    """News in event-time order, as NewsItem JSON, with the demo feed's kind of texts: the STEADY
    tickers at `steady_per_minute` items a minute each, their labels drawn from `mix` (negative,
    neutral, positive shares); the `burst` ticker (symbol, company) quiet (a neutral item every
    `quiet_every` minutes) except in `burst_minutes`, where it gets `burst_per_minute` items of
    `burst_texts` a minute."""
    from finsent.demo.make_data import FEED_TEMPLATES

    rng = random.Random(seed)
    out = []

    def item(i: str, ticker: str, name: str, template: str, minute: float) -> bytes:
        text = template.format(c=name, t=ticker, p=rng.randint(2, 30), n=rng.randint(20, 9000), m="May")
        at = start + timedelta(minutes=minute)
        return json.dumps(
            {"id": i, "text": text, "source": source, "topics": [ticker], "published_at": at.isoformat()}
        ).encode()

    ticker, name = burst
    for minute in range(minutes):
        for steady, company in STEADY.items():
            for k in range(steady_per_minute):
                label = rng.choices(["negative", "neutral", "positive"], weights=mix)[0]
                template = rng.choice(FEED_TEMPLATES[label])
                at = minute + k / steady_per_minute
                out.append(item(f"{steady}-{minute}-{k}", steady, company, template, at))
        if minute in burst_minutes:
            for k in range(burst_per_minute):
                template = rng.choice(burst_texts)
                at = minute + k / burst_per_minute
                out.append(item(f"{ticker}-b{minute}-{k}", ticker, name, template, at))
        elif minute % quiet_every == 0:
            template = rng.choice(FEED_TEMPLATES["neutral"])
            out.append(item(f"{ticker}-{minute}", ticker, name, template, minute))
    return out


def news_hour(start: datetime, *, spike_from: int = 30, spike_to: int = 50, seed: int = 5) -> list[bytes]:
    """An hour of news (4 steady tickers at 2 items/min, 10% negative; Boeing quiet, then a burst of
    4 negative items a minute): the chaos and Kafka scenarios' stream."""
    return news_stream(
        start,
        minutes=60,
        burst=("BA", "Boeing"),
        burst_minutes=range(spike_from, spike_to),
        burst_per_minute=4,
        steady_per_minute=2,
        mix=(0.1, 0.5, 0.4),
        quiet_every=3,
        seed=seed,
        source="chaos",
    )
