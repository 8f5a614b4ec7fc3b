"""The classifier: a BERT encoder and a 3-way linear head over a pooled sentence vector.

all-MiniLM-L6-v2 was trained (as a sentence-transformers model) to produce sentence vectors by
*mean pooling* its token states; its [CLS] pooler was not part of that training. So FinSent's default
head mean-pools the token states (masking padding) and `--pooling cls` keeps Hugging Face's
[CLS]-pooler head. The pooling is recorded in the model's config (`finsent_pooling`), and every
loader goes through `load_classifier`, which builds the right head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

POOLINGS = ("mean", "cls")


class MeanPoolBertForSequenceClassification(BertPreTrainedModel):
    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = torch.nn.Dropout(config.hidden_dropout_prob)
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any
    ) -> SequenceClassifierOutput:
        states = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))


def new_classifier(base: Path, pooling: str, id2label: dict[int, str]) -> torch.nn.Module:
    if pooling not in POOLINGS:
        raise ValueError(f"pooling {pooling!r}: expected one of {', '.join(POOLINGS)}")
    kwargs = {
        "num_labels": len(id2label),
        "id2label": id2label,
        "label2id": {v: k for k, v in id2label.items()},
    }
    if pooling == "cls":
        model = AutoModelForSequenceClassification.from_pretrained(str(base), **kwargs)
    else:
        config = AutoConfig.from_pretrained(str(base), **kwargs)
        model = MeanPoolBertForSequenceClassification.from_pretrained(str(base), config=config)
    model.config.finsent_pooling = pooling
    return model


def load_classifier(folder: Path) -> torch.nn.Module:
    """A folder written by `finsent train`, with the head it was trained with."""
    config = AutoConfig.from_pretrained(str(folder))
    if getattr(config, "finsent_pooling", "cls") == "mean":
        return MeanPoolBertForSequenceClassification.from_pretrained(str(folder)).eval()
    return AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
