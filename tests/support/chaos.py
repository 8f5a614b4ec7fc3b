"""Shared pieces of the chaos scenarios: processes, scenario data, reading topics back.

Each scenario runs FinSent as separate OS processes against a real broker and breaks something the
way production does (SIGKILL, a broker stopped, a receiver gone). Durations that the issue names (a
2-minute broker outage, a 3-minute receiver outage) are the defaults; FINSENT_CHAOS_SCALE (e.g. 0.25)
shortens them for a quick run by hand. Each scenario writes its figures to
.cache/chaos-results/<name>.json, which the README's reliability section quotes."""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from support.kafka import REPO, Topics, consume, finsent_args, flags, produce
from support.process import Process
from support.scenarios import STEADY
from support.stack import free_port

SCALE = float(os.environ.get("FINSENT_CHAOS_SCALE", "1"))
RESULTS = REPO / ".cache" / "chaos-results"


def scaled(seconds: float) -> float:
    return seconds * SCALE


def record_result(name: str, figures: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str))
    print(f"\n[chaos] {name}: {json.dumps(figures, default=str)}")


def common(command: str, bootstrap: str, topics: Topics, model_repo: Path) -> list[str]:
    """`finsent <command>` on the scenario's own topics (all derived from `topics.news`)."""
    n = topics.news
    return [
        *finsent_args(command, bootstrap, topics, model_repo),
        *flags(
            command,
            topic_scores_topic=n + ".by-topic",
            alerts_topic=n + ".alerts",
            aggregate_group_id=topics.group + "-agg",
            webhook_group_id=topics.group + "-hooks",
            webhook_dlq_topic=n + ".alerts.dlq",
            create_topics=False,
        ),
    ]


def scorer(
    bootstrap: str,
    topics: Topics,
    model_repo: Path,
    log: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> Process:
    port = free_port()
    args = common("run", bootstrap, topics, model_repo)
    args += ["--metrics-port", str(port), "--threads", "1", *extra]
    return Process(args, log, env={"FINSENT_PROGRESS_S": "5", **(env or {})}, metrics_port=port)


def aggregator(
    bootstrap: str,
    topics: Topics,
    model_repo: Path,
    log: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> Process:
    port = free_port()
    args = common("aggregate", bootstrap, topics, model_repo)
    args += ["--aggregate-metrics-port", str(port), *extra]
    return Process(args, log, env={"FINSENT_PROGRESS_S": "5", **(env or {})}, metrics_port=port)


def key_of(value: bytes) -> bytes:
    return json.loads(value)["topics"][0].encode()


def topic_scores(
    start: datetime, minutes: range, *, burst: range, seed: int = 9
) -> list[tuple[bytes, bytes]]:
    """Per-topic score records (the scorer's output) straight onto the aggregator's input, with
    labels fixed by the scenario: (key, value) pairs in event-time order."""
    rng = random.Random(seed)
    out = []

    def rec(i: str, topic: str, minute: float, negative: bool) -> tuple[bytes, bytes]:
        at = (start + timedelta(minutes=minute)).isoformat()
        value = {
            "id": i,
            "topic": topic,
            "label": "negative" if negative else "neutral",
            "score": -0.9 if negative else 0.1,
            "published_at": at,
            "event_time": at,
            "source": "chaos",
            "model_name": "m",
            "model_version": "1",
            "snippet": f"{topic} item {i}",
        }
        return topic.encode(), json.dumps(value).encode()

    for minute in minutes:
        for topic in STEADY:
            for k in range(3):
                out.append(rec(f"{topic}-{minute}-{k}", topic, minute + k / 3, rng.random() < 0.12))
        if minute in burst:
            for k in range(4):
                out.append(rec(f"BA-b{minute}-{k}", "BA", minute + k / 4, True))
        elif minute % 3 == 0:
            out.append(rec(f"BA-{minute}", "BA", minute, False))
    return out


def produce_pairs(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]]) -> None:
    produce(bootstrap, topic, [v for _, v in pairs], keys=[k for k, _ in pairs])


def alert_events(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 30) -> list[dict]:
    return [
        json.loads(r.value) for r in consume(bootstrap, topic, expect=expect, timeout_s=timeout_s, settle_s=1)
    ]


def wait_for(
    predicate,
    timeout_s: float,
    every_s: float = 0.5,
    what: str = "condition",
    *,
    show: Process | None = None,
):
    """Polls `predicate` until it is truthy; on time-out, fails with the last lines of `show`'s log
    (the process being waited on), so that a slow run says what that process was doing."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    tail = "\n".join(show.output().splitlines()[-40:]) if show is not None else ""
    raise AssertionError(
        f"timed out after {timeout_s:.0f}s waiting for {what}" + (f"; its log ends:\n{tail}" if tail else "")
    )


def now_utc() -> datetime:
    return datetime.now(UTC)
