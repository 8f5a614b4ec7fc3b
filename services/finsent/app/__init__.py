"""Wires the stages together for each command: `scorer` (`finsent run --kafka`), `aggregator`
(`finsent aggregate`: aggregator and webhook dispatcher), `embedded` (`finsent run` with no broker:
the replay), `labels` (label import and ingest), `scheduler` (periodic retraining), `summary` (what
the embedded run prints), `configs` (each part's config object, from Settings), `wiring` (the
components the commands share: backend, pipeline, aggregator, dispatcher)."""

__all__ = ["aggregator", "configs", "embedded", "labels", "scheduler", "scorer", "summary", "wiring"]
