"""Making the classifier: `data` (loading, splits), `bases` (the bundled encoders), `classifier`
(the two-head model), `train` and `distill` (CPU-first, resumable, `checkpoint`, `precision`),
`evaluate` and `scoring_metrics`, `export` (ONNX, the int8 gate) and `tensorrt` (the GPU engine),
`build` (`finsent build-model`: the shipped model from the labelled data), `config` (TrainConfig)."""

__all__ = [
    "bases",
    "build",
    "checkpoint",
    "classifier",
    "config",
    "data",
    "distill",
    "evaluate",
    "export",
    "precision",
    "scoring_metrics",
    "tensorrt",
    "train",
]
