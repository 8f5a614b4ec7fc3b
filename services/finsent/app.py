"""Wires the stages together for `finsent run`: on a real broker, or embedded on the sample feed."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from finsent.contracts import DeadLetter, ScoredItem
from finsent.inference.backend import ScoringBackend
from finsent.inference.embedded import EmbeddedBackend
from finsent.observability.metrics import PipelineMetrics
from finsent.pipeline.dedup import RecentIds
from finsent.pipeline.scorer import BatchOutcome, PipelineOptions, ScoringPipeline
from finsent.settings import Settings

log = logging.getLogger(__name__)


def bundled_feed() -> Path:
    return Path(str(resources.files("finsent.demo") / "data" / "sample_feed.jsonl"))


def build_backend(settings: Settings) -> ScoringBackend:
    if settings.demo_model:
        from finsent.demo.model import ensure_demo_model

        ensure_demo_model(settings.model_repo, settings.model_name, max_length=settings.max_length)
    return EmbeddedBackend(
        settings.model_repo,
        settings.model_name,
        max_length=settings.max_length,
        infer_batch=settings.infer_batch,
        threads=settings.threads,
        poll_s=settings.model_poll_s,
    )


def pipeline_options(settings: Settings) -> PipelineOptions:
    return PipelineOptions(
        max_message_bytes=settings.max_message_bytes,
        dlq_payload_limit=settings.dlq_payload_limit,
        include_text=settings.scored_include_text,
        produce_retries=settings.produce_retries,
    )


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("%s: finishing the batch in flight, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_kafka(settings: Settings, stop: threading.Event | None = None) -> int:
    from finsent.pipeline.kafka_io import KafkaSink, KafkaSource, ensure_topics

    assert settings.kafka is not None
    stop = stop or threading.Event()
    metrics = PipelineMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_addr)
    backend = build_backend(settings)
    if settings.create_topics:
        ensure_topics(
            settings.kafka,
            [settings.news_topic, settings.scored_topic, settings.dlq_topic],
            settings.partitions,
        )
    source = KafkaSource(
        settings.kafka,
        settings.news_topic,
        settings.group_id,
        max_batch=settings.max_batch,
        max_linger_ms=settings.max_linger_ms,
    )
    sink = KafkaSink(settings.kafka, settings.scored_topic, settings.dlq_topic)
    pipeline = ScoringPipeline(
        source,
        backend,
        sink,
        recent=RecentIds(settings.dedup_size, settings.dedup_ttl_s),
        metrics=metrics,
        options=pipeline_options(settings),
    )
    log.info(
        "scoring %s -> %s (group %s, model %s v%s)",
        settings.news_topic,
        settings.scored_topic,
        settings.group_id,
        backend.model.name,
        backend.model.version,
    )
    try:
        pipeline.run(stop)
    finally:
        source.close()
        sink.close()
        backend.close()
    log.info("stopped cleanly")
    return 0


# --- embedded mode -------------------------------------------------------------------------------


@dataclass
class MemorySink:
    """Embedded mode's sink: keeps what a Kafka sink would have produced, bounded."""

    keep: int = 10_000
    scored: list[ScoredItem] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)

    def write(self, scored: list[ScoredItem], dead: list[DeadLetter]) -> None:
        self.scored.extend(scored)
        self.dead.extend(dead)
        del self.scored[: max(0, len(self.scored) - self.keep)]
        del self.dead[: max(0, len(self.dead) - self.keep)]

    def close(self) -> None:
        pass


@dataclass
class Summary:
    consumed: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    seconds: float = 0.0
    model: str = ""

    def add(self, out: BatchOutcome) -> None:
        self.consumed += len(out.scored) + len(out.dead) + out.duplicates
        self.labels.update(s.label.value for s in out.scored)
        self.rejected.update(d.reason for d in out.dead)
        self.duplicates += out.duplicates

    def render(self) -> str:
        scored = sum(self.labels.values())
        rate = self.consumed / self.seconds if self.seconds else 0.0
        lines = [
            "",
            "FinSent run summary",
            f"  model            {self.model}",
            f"  records          {self.consumed} in {self.seconds:.1f}s ({rate:.0f}/s)",
            f"  scored           {scored}  "
            + "  ".join(f"{k} {self.labels[k]}" for k in ("negative", "neutral", "positive")),
            f"  dead-lettered    {sum(self.rejected.values())}  "
            + "  ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())),
            f"  duplicates       {self.duplicates}",
        ]
        return "\n".join(lines)


def run_embedded(settings: Settings, stop: threading.Event | None = None) -> Summary:
    from tqdm.auto import tqdm

    from finsent.pipeline.replay import ReplaySource

    stop = stop or threading.Event()
    metrics = PipelineMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_addr)
        print(f"Metrics: http://{settings.metrics_addr}:{settings.metrics_port}/metrics", flush=True)
    backend = build_backend(settings)
    feed = settings.sample_feed or bundled_feed()
    source = ReplaySource(feed, max_batch=settings.max_batch)
    sink = MemorySink()
    summary = Summary(model=f"{backend.model.name} v{backend.model.version}")
    bar = tqdm(total=len(source), desc="scoring sample feed", unit="rec")

    def on_batch(out: BatchOutcome) -> None:
        summary.add(out)
        bar.update(len(out.scored) + len(out.dead) + out.duplicates)

    pipeline = ScoringPipeline(
        source,
        backend,
        sink,
        recent=RecentIds(settings.dedup_size, settings.dedup_ttl_s),
        metrics=metrics,
        options=pipeline_options(settings),
        on_batch=on_batch,
    )
    started = time.perf_counter()
    pipeline.run(stop, until=source.done)
    summary.seconds = time.perf_counter() - started
    bar.close()
    backend.close()
    return summary
