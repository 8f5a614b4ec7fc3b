"""Wires the stages together for each command: `scorer` (`finsent run --kafka`), `aggregator`
(`finsent aggregate`: aggregator and webhook dispatcher), `embedded` (`finsent run` with no broker:
the replay), `labels` (label import and ingest), `scheduler` (periodic retraining), `summary` (what
the embedded run prints), `wiring` (the builders the commands share, from Settings)."""

__all__ = ["aggregator", "embedded", "labels", "scheduler", "scorer", "summary", "wiring"]
