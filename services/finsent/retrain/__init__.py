"""Retraining: analysts' labels in (label store, import, Kafka ingest), one retraining run (build the
data, train, evaluate against production on a golden set, promote or reject, report), rollback, and
the run ledger that the scheduler and the metrics read."""

__all__ = [
    "config",
    "gate",
    "ingest",
    "label_input",
    "label_store",
    "ledger",
    "metrics",
    "promote",
    "report",
    "run",
    "state",
]
