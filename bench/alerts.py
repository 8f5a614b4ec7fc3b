"""Alert quality: do the alerts fire on real bursts of bad news, and only on them?

Feeds are built from held-out texts that no model trained on (the build's splits: the twitter test
part, the held-out FinEntity passages and Financial PhraseBank, regenerated from ../shared/data
exactly as `finsent build-model` splits them), on a dozen topics over eight hours of event time:

- background on every topic at its own normal rate and class mix (10-20% negative);
- eight negative bursts of 15-40 items over 5-20 minutes, on eight topics;
- three volume decoys (bursts of positive or neutral news) that must not fire;
- one sustained crisis: 90 minutes at about 75% negative, 2 items a minute.

Each feed is replayed through the embedded pipeline (`finsent run`'s: validate, score, topics,
windows, detector) once per scorer: the true labels (the detector's own ceiling), the template
demo model, the shipped student, and the teacher. Per scorer it reports bursts caught, the median
detection delay (first firing alert after a burst's start), decoys fired, false alerts on the
planned topics outside any event, crisis coverage (share of the crisis's minutes alerted) and how
long an alert outlives the crisis. Alerts on topics that the texts themselves name (cashtags,
companies) are counted apart: the feed does not control them.

Each scorer is run with the detector as configured by default, and (truth and student) with two
others in the same run: the windows-only detector (its sequential test off) and the legacy one
(before the clean baseline), so that each part of the detector is measured against the same feeds.

The held-out texts are cut in two halves by a hash of the text: `--part report` (the default, the
figures reported) and `--part tune`, on which the detector's thresholds were chosen
(`--sweep scan_llr=6,7,8,9,10` runs every scorer with each value); the two never share a text.

    python -m bench.alerts                            # 3 seeds, every scorer found
    python -m bench.alerts --seeds 1,2,3,4,5 --scorers truth,student
    python -m bench.alerts --part tune --seeds 101,102,103 --sweep scan_llr=6,8,10

Results go to bench/results/alerts.json (alerts-tune.json for --part tune): one row per scorer,
detector and seed, and the sums and means."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "alerts.json"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOURS = 8
TOPICS = [f"BENCH{i:02d}" for i in range(12)]
SETTLE_MIN = 10  # an alert up to this long after an event's end still belongs to it


@dataclass
class Episode:
    kind: str  # "burst", "decoy" or "crisis"
    topic: str
    start_min: float
    minutes: float
    items: int

    @property
    def end_min(self) -> float:
        return self.start_min + self.minutes


@dataclass
class Feed:
    seed: int
    records: list[dict[str, Any]]
    truth: dict[str, str]  # text -> label (held-out labels)
    episodes: list[Episode] = field(default_factory=list)


def in_part(text: str, part: str) -> bool:
    """Whether a held-out text is in the `report` half or the `tune` half (a stable hash of it)."""
    return (hashlib.sha256(text.encode()).digest()[0] % 2 == 0) == (part == "tune")


def _pools(splits: Path, part: str) -> dict[str, dict[str, list[str]]]:
    """Held-out texts of one part, by source and label: tweets (the twitter test part) and news
    (the held-out FinEntity passages and Financial PhraseBank's sentences, which no model trains
    on: its licence allows benchmarks, not shipped weights)."""
    pools: dict[str, dict[str, list[str]]] = {}
    for source, names in (("tweets", ("tw_test",)), ("news", ("fe_test", "fpb_test"))):
        by_label: dict[str, list[str]] = {"negative": [], "neutral": [], "positive": []}
        for name in names:
            path = splits / f"{name}.jsonl"
            for line in path.read_text().split("\n") if path.is_file() else ():
                if line.strip():
                    row = json.loads(line)
                    if in_part(row["text"], part):
                        by_label[row["label"]].append(row["text"])
        pools[source] = by_label
    return pools


class _Draw:
    """Texts of one label, drawn without replacement until the pool is used up, then again."""

    def __init__(self, texts: list[str], rng: random.Random) -> None:
        self.texts, self.rng, self.queue = list(texts), rng, []  # type: list[str]

    def __call__(self) -> str:
        if not self.queue:
            self.queue = self.texts[:]
            self.rng.shuffle(self.queue)
        return self.queue.pop()


def build_feed(splits: Path, seed: int, part: str = "report") -> Feed:
    rng = random.Random(seed)
    pools = _pools(splits, part)
    draw = {
        (src, label): _Draw(texts, rng)
        for src, by_label in pools.items()
        for label, texts in by_label.items()
    }
    truth = {t: label for by_label in pools.values() for label, texts in by_label.items() for t in texts}

    used: dict[str, set[str]] = {}

    def text(label: str, news_share: float, topic: str) -> str:
        """A text not yet used on `topic` where the pool allows: a pool drawn to its end starts
        again, and a text repeated on one topic would be a copy of a story the topic has counted
        (counted once by the aggregator's novelty filter), an artefact of the benchmark's small pools."""
        src = "news" if rng.random() < news_share and pools["news"][label] else "tweets"
        seen = used.setdefault(topic, set())
        for _ in range(50):
            t = draw[(src, label)]()
            if t not in seen:
                break
        seen.add(t)
        return t

    records: list[dict[str, Any]] = []

    def emit(topic: str, minute: float, label: str, news_share: float, kind: str) -> None:
        t = text(label, news_share, topic)
        records.append(
            {
                "id": f"s{seed}-{len(records):05d}",
                "text": t,
                "source": "newswire" if t in pools["news"][label] else "social",
                "published_at": (START + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z"),
                "topics": [topic],
                "meta": {"bench": kind},
            }
        )

    # Background: each topic at its own rate (10-30 items an hour) and negative share (10-20%).
    for topic in TOPICS:
        rate = rng.uniform(10, 30) / 60
        negative = rng.uniform(0.10, 0.20)
        positive = rng.uniform(0.15, 0.30)
        minute = rng.expovariate(rate)
        while minute < HOURS * 60:
            r = rng.random()
            label = "negative" if r < negative else "positive" if r < negative + positive else "neutral"
            emit(topic, minute, label, 0.2, "background")
            minute += rng.expovariate(rate)

    episodes: list[Episode] = []
    # Eight bursts of bad news, 15-40 items over 5-20 minutes, 85% negative, on eight topics, after
    # two hours of history; news passages are half of their negatives.
    sizes = [15, 20, 25, 30, 40, 15, 30, 20]
    spans = [5, 10, 15, 20, 20, 5, 15, 10]
    starts = sorted(rng.uniform(120, HOURS * 60 - 40) for _ in sizes)
    order = list(range(8))
    rng.shuffle(order)
    for k, i in enumerate(order):
        ep = Episode("burst", TOPICS[i], starts[k], spans[k], sizes[k])
        for _ in range(ep.items):
            label = "negative" if rng.random() < 0.85 else "neutral"
            emit(ep.topic, rng.uniform(ep.start_min, ep.end_min), label, 0.5, "burst")
        episodes.append(ep)
    # Three volume decoys: 30 positive, 30 neutral, 25 mixed over ten minutes.
    for i, mix in zip((8, 9, 10), (("positive",), ("neutral",), ("positive", "neutral")), strict=True):
        ep = Episode("decoy", TOPICS[i], rng.uniform(150, HOURS * 60 - 30), 10, 30 if len(mix) == 1 else 25)
        for _ in range(ep.items):
            emit(ep.topic, rng.uniform(ep.start_min, ep.end_min), rng.choice(mix), 0.5, "decoy")
        episodes.append(ep)
    # A sustained crisis: 90 minutes at 2 items a minute, 75% negative.
    crisis = Episode("crisis", TOPICS[11], rng.uniform(150, 240), 90, 180)
    for _ in range(crisis.items):
        label = "negative" if rng.random() < 0.75 else "neutral"
        emit(crisis.topic, rng.uniform(crisis.start_min, crisis.end_min), label, 0.5, "crisis")
    episodes.append(crisis)
    records.sort(key=lambda r: r["published_at"])
    return Feed(seed, records, truth, episodes)


# --- scorers ---------------------------------------------------------------------------------------


class TruthBackend:
    """Scores each text with its held-out label (probability 1): the detector's ceiling."""

    def __init__(self, truth: dict[str, str]) -> None:
        from finsent.contracts.news import LABELS, ModelRef

        self._index = {str(label): i for i, label in enumerate(LABELS)}
        self._truth = truth
        self._model = ModelRef(name="true-labels", version="0")

    @property
    def model(self):
        return self._model

    def score(self, texts: Sequence[str]):
        from finsent.inference.backend import ScoreResult

        probs = np.zeros((len(texts), 3), dtype=np.float32)
        for row, t in enumerate(texts):
            probs[row, self._index[self._truth[t]]] = 1.0
        return ScoreResult(probs, self._model)

    def close(self) -> None:
        pass


class TorchBackend:
    """A trained folder (the teacher) scored with PyTorch, bf16 where the CPU has it."""

    def __init__(self, folder: Path, name: str) -> None:
        from finsent.contracts.news import ModelRef
        from finsent.training.distill import teacher_max_length
        from finsent.training.evaluate import predictor

        self._predict, _ = predictor(folder, teacher_max_length(folder, 128), "auto")
        self._model = ModelRef(name=name, version="0")

    @property
    def model(self):
        return self._model

    def score(self, texts: Sequence[str]):
        from finsent.inference.backend import ScoreResult, softmax

        logits, _ = self._predict(list(texts))
        return ScoreResult(softmax(logits), self._model)

    def close(self) -> None:
        pass


def _onnx_backend(repo: Path, name: str):
    from finsent.inference.embedded import EmbeddedBackend

    return EmbeddedBackend(repo, name, max_length=128, infer_batch=16, threads=0)


def scorers(
    wanted: list[str], work: Path, teacher: Path | None, candidate: Path | None = None
) -> dict[str, Any]:
    """name -> a function of the feed giving a backend, for the scorers that can be had here.
    `candidate`: a model repository (a build's model_repo) whose newest version is measured beside
    the shipped student, as `candidate`."""
    out: dict[str, Any] = {}
    if "truth" in wanted:
        out["truth"] = lambda feed: TruthBackend(feed.truth)
    if "template" in wanted:
        from finsent.demo.model import ensure_demo_model

        repo = work / "template-repo"
        ensure_demo_model(repo, "finsent_sentiment")
        out["template"] = lambda feed, repo=repo: _onnx_backend(repo, "finsent_sentiment")
    if "student" in wanted:
        from finsent.shipped import ensure_model

        repo = work / "student-repo"
        ensure_model(repo, "finsent_sentiment")
        out["student"] = lambda feed, repo=repo: _onnx_backend(repo, "finsent_sentiment")
    if candidate is not None:
        from finsent.inference.model_repo import latest_version

        if latest_version(candidate, "finsent_sentiment") is None:
            print(f"bench.alerts: no model version in {candidate}: candidate skipped", file=sys.stderr)
        else:
            out["candidate"] = lambda feed: _onnx_backend(candidate, "finsent_sentiment")
    if "teacher" in wanted:
        if teacher is None or not (teacher / "config.json").is_file():
            print(f"bench.alerts: no teacher at {teacher} (finsent build-model): skipped", file=sys.stderr)
        else:
            out["teacher"] = lambda feed, teacher=teacher: TorchBackend(teacher, "teacher")
    return out


# --- one replay, and what it shows -----------------------------------------------------------------


def replay(feed: Feed, backend: Any, work: Path, detector: Any = None) -> list[Any]:
    """The feed through the embedded pipeline; returns the alert events of the topics' detector."""
    from finsent.app.embedded import run_embedded
    from finsent.settings import Settings

    path = work / f"feed-{feed.seed}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in feed.records))
    # Story novelty at 0.8 (the default), as these figures were measured.
    settings = Settings(sample_feed=path, metrics_port=0, install_model=False, story_similarity=0.8)
    summary = run_embedded(settings, backend=backend, progress=False, detector=detector)
    return [a for a in summary.alerts if a.event_type is None]


def _minute(t: datetime) -> float:
    return (t - START).total_seconds() / 60


def judge(feed: Feed, alerts: list[Any]) -> dict[str, Any]:
    planned = set(TOPICS)
    firing = [a for a in alerts if a.status == "firing" and a.topic in planned]
    incidental = sorted({a.topic for a in alerts if a.status == "firing" and a.topic not in planned})

    def fires_in(topic: str, lo: float, hi: float) -> list[float]:
        return sorted(
            _minute(a.event_time) for a in firing if a.topic == topic and lo <= _minute(a.event_time) <= hi
        )

    bursts = [e for e in feed.episodes if e.kind == "burst"]
    delays = []
    for ep in bursts:
        hits = fires_in(ep.topic, ep.start_min, ep.end_min + SETTLE_MIN)
        if hits:
            delays.append(hits[0] - ep.start_min)
    decoys = [e for e in feed.episodes if e.kind == "decoy"]
    decoys_fired = sum(1 for ep in decoys if fires_in(ep.topic, ep.start_min, ep.end_min + SETTLE_MIN))
    # A firing outside every episode of its topic (and its settling time) is a false alert; the
    # crisis topic's alert is allowed to last until resolved, so only new firings count there.
    false_alerts = 0
    for a in firing:
        m = _minute(a.event_time)
        inside = any(
            ep.topic == a.topic and ep.start_min <= m <= ep.end_min + SETTLE_MIN for ep in feed.episodes
        )
        upgrade = any(
            b.topic == a.topic and b.alert_id == a.alert_id and b.event_time < a.event_time for b in firing
        )
        false_alerts += not inside and not upgrade
    crisis = next(e for e in feed.episodes if e.kind == "crisis")
    covered, tail = _coverage(alerts, crisis)
    return {
        "bursts": len(bursts),
        "bursts_caught": len(delays),
        "median_delay_min": statistics.median(delays) if delays else None,
        "delays_min": [round(d, 2) for d in delays],
        "decoys": len(decoys),
        "decoys_fired": decoys_fired,
        "false_alerts": false_alerts,
        "crisis_coverage": covered,
        "crisis_tail_min": tail,
        "incidental_topics_fired": incidental,
    }


def _coverage(alerts: list[Any], crisis: Episode) -> tuple[float, float | None]:
    """(share of the crisis's minutes with its topic alerted, minutes the alert lasted past its end)."""
    events = sorted((a for a in alerts if a.topic == crisis.topic), key=lambda a: a.event_time)
    active_from: float | None = None
    spans: list[tuple[float, float]] = []
    for a in events:
        m = _minute(a.event_time)
        if a.status == "firing" and active_from is None:
            active_from = m
        elif a.status == "resolved" and active_from is not None:
            spans.append((active_from, m))
            active_from = None
    if active_from is not None:
        spans.append((active_from, float(HOURS * 60)))
    lo, hi = crisis.start_min, crisis.end_min
    covered = sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in spans) / (hi - lo)
    last_end = max((b for a, b in spans if a <= hi + SETTLE_MIN), default=None)
    tail = round(last_end - hi, 1) if last_end is not None and last_end > hi else None
    return round(covered, 3), tail


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return round(float(np.mean(values)), 3) if values else None

    return {
        "seeds": [r["seed"] for r in rows],
        "bursts_caught": f"{sum(r['bursts_caught'] for r in rows)}/{sum(r['bursts'] for r in rows)}",
        "median_delay_min": mean("median_delay_min"),
        "decoys_fired": f"{sum(r['decoys_fired'] for r in rows)}/{sum(r['decoys'] for r in rows)}",
        "false_alerts": sum(r["false_alerts"] for r in rows),
        "false_alerts_per_day": round(sum(r["false_alerts"] for r in rows) / (len(rows) * HOURS / 24), 2),
        "crisis_coverage": mean("crisis_coverage"),
        "crisis_tail_min": mean("crisis_tail_min"),
    }


def detectors(sweep: str | None) -> dict[str, Any]:
    """Detector name -> config for every scorer ("" the default one), plus the comparisons run on
    truth and student only (name -> config, marked with a leading "+")."""
    from finsent.aggregate.detector import DetectorConfig

    if sweep:
        name, _, values = sweep.partition("=")
        if name not in DetectorConfig.model_fields or not values:
            raise SystemExit(
                f"bench.alerts: --sweep NAME=V1,V2 with NAME a DetectorConfig field, got {sweep!r}"
            )
        kind = type(getattr(DetectorConfig(), name))
        return {f"{name}={v}": DetectorConfig(**{name: kind(v)}) for v in values.split(",")}
    return {
        "": DetectorConfig(),
        "+windows-only": DetectorConfig(scan_window_s=0),
        # The detector before the clean baseline and the sequential test, as it was configured.
        "+legacy": DetectorConfig(legacy=True, prior_weight=20),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED, help="the labelled data (../shared/data)")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--scorers", default="truth,template,student,teacher")
    parser.add_argument(
        "--part", choices=("report", "tune"), default="report", help="which half of the texts"
    )
    parser.add_argument(
        "--sweep", help="NAME=V1,V2,...: run every scorer with each value of a detector field"
    )
    parser.add_argument(
        "--teacher", type=Path, default=ROOT / "build" / "teacher", help="the teacher folder of a build"
    )
    parser.add_argument(
        "--candidate", type=Path, help="a build's model_repo: its newest version is measured as `candidate`"
    )
    parser.add_argument("--out", type=Path, help="default bench/results/alerts.json (alerts-tune.json)")
    args = parser.parse_args(argv)
    out = args.out or (RESULTS if args.part == "report" else RESULTS.with_name("alerts-tune.json"))
    if not (args.data / "twitter_fin_train.csv").is_file():
        print(f"bench.alerts: {args.data} has no twitter_fin_train.csv (see ../shared/data)", file=sys.stderr)
        return 2
    from finsent.training.build import BuildPlan, step_splits

    seeds = [int(s) for s in args.seeds.split(",")]
    configs = detectors(args.sweep)
    with tempfile.TemporaryDirectory(prefix="finsent-bench-alerts-") as tmp:
        work = Path(tmp)
        plan = BuildPlan(args.data, work / "build")
        step_splits(plan)  # the build's own held-out parts, byte for byte
        splits = work / "build" / "splits"
        feeds = [build_feed(splits, seed, args.part) for seed in seeds]
        available = scorers(args.scorers.split(","), work, args.teacher, args.candidate)
        runs = []
        for name, make in available.items():
            for label, cfg in configs.items():
                if label.startswith("+") and name not in ("truth", "student", "candidate"):
                    continue
                runs.append((f"{name} {label.lstrip('+')}".strip(), make, cfg))
        rows: dict[str, list[dict[str, Any]]] = {}
        for name, make, detector in runs:
            for feed in feeds:
                started = time.perf_counter()
                backend = make(feed)
                alerts = replay(feed, backend, work, detector)
                backend.close()
                row = {
                    "seed": feed.seed,
                    **judge(feed, alerts),
                    "seconds": round(time.perf_counter() - started, 1),
                }
                rows.setdefault(name, []).append(row)
                print(f"{name:24s} seed {feed.seed}: {json.dumps(row)}", flush=True)
    result = {
        "benchmark": "alerts",
        "part": args.part,
        "generated_at": datetime.now(UTC).isoformat(),
        "feed": {
            "hours": HOURS,
            "topics": len(TOPICS),
            "records_per_seed": [len(f.records) for f in feeds],
            "episodes_first_seed": [asdict(e) for e in feeds[0].episodes],
        },
        "detectors": {k.lstrip("+") or "default": v.model_dump() for k, v in configs.items()},
        "summary": {name: summarise(r) for name, r in rows.items()},
        "runs": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
