"""Pipeline metrics (prometheus-client). Names follow Prometheus conventions: a `finsent_` prefix,
base units, `_total` for counters. Every label has a small, fixed set of values."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class PipelineMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "finsent_records_consumed_total", "Input records taken from the source.", registry=r
        )
        self.scored = Counter(
            "finsent_items_scored_total", "Items scored, by predicted label.", ["label"], registry=r
        )
        self.scored_by_event_type = Counter(
            "finsent_items_scored_by_event_type_total",
            "Items scored by a model with an event-type head, by event type and predicted label "
            "(no topic label: the taxonomy's 20 types times 3 labels at most).",
            ["event_type", "label"],
            registry=r,
        )
        self.rejected = Counter(
            "finsent_records_rejected_total",
            "Input records sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.event_time_clamped = Counter(
            "finsent_event_time_clamped_total",
            "Items whose published_at lay outside the allowed skew of the record's timestamp, and "
            "whose event time was clamped (direction: future or past).",
            ["direction"],
            registry=r,
        )
        self.duplicates = Counter(
            "finsent_duplicates_dropped_total",
            "Items dropped because their id was scored recently.",
            registry=r,
        )
        self.batches = Counter(
            "finsent_batches_committed_total", "Micro-batches produced and committed.", registry=r
        )
        self.batch_size = Histogram(
            "finsent_batch_size",
            "Records per micro-batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.inference_seconds = Histogram(
            "finsent_inference_seconds",
            "Time to score one micro-batch (tokenisation included).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "finsent_batch_seconds",
            "Time from a micro-batch's first record to its commit.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.backend_errors = Counter(
            "finsent_backend_errors_total", "Scoring calls that failed (the batch was retried).", registry=r
        )
        self.produce_errors = Counter(
            "finsent_produce_errors_total",
            "Batches whose results could not be produced (retried).",
            registry=r,
        )
        self.ready = Gauge(
            "finsent_scorer_ready", "1 while the scorer can score, 0 while its backend is down.", registry=r
        )
        self.model_info = Gauge(
            "finsent_model_info", "The model version scoring now (value 1).", ["name", "version"], registry=r
        )
        self.consumer_lag = Gauge(
            "finsent_consumer_lag_records",
            "Records behind the log end, summed over owned partitions.",
            registry=r,
        )

    def set_model(self, name: str, version: str) -> None:
        self.model_info.clear()  # one series: the current version only
        self.model_info.labels(name=name, version=version).set(1)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
