"""Classification metrics and the weighted loss, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from finsent.training.scoring_metrics import classification_report


def test_classification_report_against_hand_computed():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    r = classification_report(y_true, y_pred)
    assert r["n"] == 6 and r["accuracy"] == pytest.approx(4 / 6)
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    # negative: p=1, r=.5 -> f1=2/3; neutral: p=2/3, r=2/3; positive: p=.5, r=1 -> 2/3
    assert r["per_class"]["negative"]["f1"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx(2 / 3)


def test_weighted_loss_is_the_class_weighted_mean_and_weight_zero_drops_an_example():
    torch = pytest.importorskip("torch")
    from finsent.training.train import weighted_loss

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=gen)
    labels = torch.tensor([0, 1, 2, 1, 1, 0])
    class_weight = torch.tensor([2.0, 0.5, 1.0])
    for smoothing in (0.0, 0.1):
        mean = torch.nn.CrossEntropyLoss(weight=class_weight, label_smoothing=smoothing)
        each = torch.nn.CrossEntropyLoss(weight=class_weight, label_smoothing=smoothing, reduction="none")
        ones = torch.ones(6)
        assert torch.allclose(
            weighted_loss(each(logits, labels), labels, ones, class_weight), mean(logits, labels)
        )
        # Weight 0 on the last two examples: the loss of the first four alone.
        w = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
        got = weighted_loss(each(logits, labels), labels, w, class_weight)
        assert torch.allclose(got, mean(logits[:4], labels[:4]))
        # Halving one example's weight moves the loss toward the others'.
        w = torch.tensor([0.5, 1.0, 1.0, 1.0, 1.0, 1.0])
        assert not torch.allclose(
            weighted_loss(each(logits, labels), labels, w, class_weight), mean(logits, labels)
        )
