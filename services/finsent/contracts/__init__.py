"""The wire contracts: what FinSent reads from and writes to Kafka, and POSTs to webhooks.

The leaf of the package: every other package imports these, they import nothing of FinSent's.
`news` (NewsItem in; ScoredItem and DeadLetter out), `topic_score` (the per-topic record the
aggregators read, and the fan-out that makes it), `alert` (AlertEvent), `label` (LabelEvent: an
analyst's correction, for retraining), `event_type` (the event-type taxonomy of the model's second
head)."""

__all__ = [
    "alert",
    "batch",
    "event_type",
    "label",
    "news",
    "topic_score",
]
