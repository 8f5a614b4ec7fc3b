"""`finsent run` with no broker: the bundled sample feed through the same pipeline, the embedded
backend and an in-process aggregator, with a progress bar and a summary."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from finsent.aggregate.detector import DetectorConfig
from finsent.app.summary import Summary
from finsent.app.wiring import (
    aggregator_factory,
    build_backend,
    build_extractor,
    build_webhooks,
    bundled_feed,
    count_alert,
    pipeline_options,
    topic_metrics,
)
from finsent.inference.backend import ScoringBackend
from finsent.observability.progress import progress_bar
from finsent.scoring.dedup import RecentIds
from finsent.scoring.memory_sink import MemorySink
from finsent.scoring.metrics import PipelineMetrics
from finsent.scoring.scorer import BatchOutcome, ScoringPipeline
from finsent.settings import Settings


def run_embedded(
    settings: Settings,
    stop: threading.Event | None = None,
    backend: ScoringBackend | None = None,
    progress: bool = True,
    detector: DetectorConfig | None = None,
) -> Summary:
    """The feed through the pipeline; `backend` (default: the one the settings name) scores it.
    The alert-quality benchmark replays its feeds through here with each model and with the true
    labels."""
    from finsent.aggregate.runner import AlertPublisher
    from finsent.scoring.replay import ReplaySource

    stop = stop or threading.Event()
    metrics = PipelineMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_addr)
        print(f"Metrics: http://{settings.metrics_addr}:{settings.metrics_port}/metrics", flush=True)
    backend = backend if backend is not None else build_backend(settings)
    feed = settings.sample_feed or bundled_feed()
    source = ReplaySource(feed, max_batch=settings.max_batch)
    alert_metrics = topic_metrics(settings, metrics.registry)
    aggregator = aggregator_factory(settings, alert_metrics, detector)()
    webhooks = build_webhooks(settings, metrics.registry)
    publisher = AlertPublisher(None, settings.alerts_topic, webhooks, on_emitted=count_alert(alert_metrics))
    summary = Summary(
        model=f"{backend.model.name} v{backend.model.version}", windows=list(settings.window_map())
    )
    bar = progress_bar(enabled=progress, total=len(source), desc="scoring sample feed", unit="rec")

    def on_batch(out: BatchOutcome) -> None:
        summary.add(out)
        alerts = aggregator.apply(out.topic_scores)
        publisher.publish(alerts)
        summary.alerts.extend(alerts)
        bar.update(len(out.scored) + len(out.dead) + out.duplicates)

    pipeline = ScoringPipeline(
        source,
        backend,
        MemorySink(),
        recent=RecentIds(settings.dedup_size, settings.dedup_ttl_s),
        metrics=metrics,
        # The progress bar already says it; log lines would only break the bar.
        options=replace(pipeline_options(settings), progress_s=0.0),
        on_batch=on_batch,
        extractor=build_extractor(settings),
    )
    started = time.perf_counter()
    pipeline.run(stop, until=source.done)
    summary.seconds = time.perf_counter() - started
    summary.topics = aggregator.snapshot()
    bar.close()
    backend.close()
    if webhooks is not None:
        webhooks.drain(15)
        webhooks.close()
    return summary
