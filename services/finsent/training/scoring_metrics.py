"""Classification quality, in numpy only (evaluating an exported model needs no torch)."""

from __future__ import annotations

from typing import Any

import numpy as np

from finsent.contracts.news import LABELS


def classification_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    k = len(LABELS)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    per_class: dict[str, dict[str, float]] = {}
    f1s, supports = [], []
    for i, label in enumerate(LABELS):
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
    n = int(cm.sum())
    return {
        "n": n,
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "macro_f1": float(np.mean(f1s)),
        "weighted_f1": float(np.average(f1s, weights=supports)) if n else 0.0,
        "per_class": per_class,
        "labels": [str(label) for label in LABELS],
        "confusion_matrix": cm.tolist(),
    }
