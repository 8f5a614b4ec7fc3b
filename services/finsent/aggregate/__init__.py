"""Per-topic sentiment over sliding windows of event time, and negative-spike detection.

`windows` (minute buckets, sliding windows), `stories` (one story counts once), `detector` (the
spike tests and the alert lifecycle), `aggregator` (the state machine over topics: late data,
replays, bounds), `partition_clock` (the watermark over partitions), `topic_metrics` (per-topic
gauges), `runner` (the Kafka consumer loop of `finsent aggregate`)."""

__all__ = [
    "aggregator",
    "detector",
    "partition_clock",
    "runner",
    "stories",
    "topic_metrics",
    "windows",
]
