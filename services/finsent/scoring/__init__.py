"""The scoring stream, stage by stage: source -> validate -> de-duplicate -> score -> postprocess
-> produce -> commit.

`protocols` (the Source and Sink the stages are written against), `validate` (records to NewsItems
or dead letters), `dedup` (recently scored ids), `event_time` (its bounds), `postprocess` (scores to
ScoredItems and the per-topic fan-out), `scorer` (the loop: overlap, delivery, commit), `metrics`,
`memory_sink` and `replay` (the embedded run's sink and source)."""

__all__ = [
    "dedup",
    "event_time",
    "memory_sink",
    "metrics",
    "postprocess",
    "protocols",
    "replay",
    "scorer",
    "validate",
]
