"""Classification quality, in numpy only (evaluating an exported model needs no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from finsent.contracts.news import LABELS


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str] = tuple(map(str, LABELS))
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class figures and the confusion matrix, for the classes
    `labels` in index order (the sentiment head's by default)."""
    labels = [str(x) for x in labels]
    k = len(labels)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    per_class: dict[str, dict[str, float]] = {}
    f1s, supports, present = [], [], []
    for i, label in enumerate(labels):
        tp = cm[i, i]
        precision = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        recall = tp / cm[i, :].sum() if cm[i, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        support = int(cm[i, :].sum())
        per_class[str(label)] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": support,
        }
        f1s.append(f1)
        supports.append(support)
        present.append(bool(support or cm[:, i].sum()))
    n = int(cm.sum())
    # As scikit-learn's: the macro mean is over the classes in the truth or the predictions, so a
    # 20-type head measured on a set without, say, IPO texts is not marked down for them.
    macro = float(np.mean([f for f, p in zip(f1s, present, strict=True) if p])) if any(present) else 0.0
    return {
        "n": n,
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "macro_f1": macro,
        "weighted_f1": float(np.average(f1s, weights=supports)) if n else 0.0,
        "per_class": per_class,
        "labels": labels,
        "confusion_matrix": cm.tolist(),
    }
