"""What each command does, wired from the stages: `scorer` (`finsent run --kafka`), `aggregator`
(`finsent aggregate`: aggregator and webhook dispatcher), `embedded` (`finsent run` with no broker:
the replay), `produce` (a file to the news topic), `labels` (label import and ingest), `model`
(build-model, evaluate, export), `training` (train, distill, split), `retraining` (a run now, a
rollback), `scheduler` (periodic retraining), `summary` (what the embedded run prints), `configs`
(each part's config object, from Settings), `wiring` (the components the commands share: backend,
pipeline, aggregator, dispatcher), `errors` (what a failed command tells the user), `logs` (the
console log). The command line (`cli/`) reaches the rest of the package only through these."""

__all__ = [
    "aggregator",
    "configs",
    "embedded",
    "errors",
    "labels",
    "logs",
    "model",
    "produce",
    "retraining",
    "scheduler",
    "scorer",
    "summary",
    "training",
    "wiring",
]
