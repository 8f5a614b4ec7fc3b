"""The classifier: a pretrained encoder (BERT/MiniLM, MPNet, or any Hugging Face `AutoModel`) and a
3-way linear head over a pooled sentence vector.

all-MiniLM-L6-v2 and all-mpnet-base-v2 were trained (as sentence-transformers models) to produce
sentence vectors by *mean pooling* their token states; their first-token poolers were not part of
that training. So FinSent's default head mean-pools the token states (masking padding), and
`--pooling cls` keeps the architecture's own sequence-classification head (Hugging Face's). The
pooling is recorded in the model's config (`finsent_pooling`), and every loader goes through
`load_classifier`, which builds the right head.

The encoder sits under the architecture's own attribute name (`bert`, `mpnet`, …), so the saved
weights are named as Hugging Face names them, and folders trained before this class was made
generic (`MeanPoolBertForSequenceClassification`, `bert.*` weights) load unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)
from transformers.modeling_outputs import SequenceClassifierOutput

POOLINGS = ("mean", "cls")


class MeanPoolForSequenceClassification(PreTrainedModel):
    config_class = PretrainedConfig

    def __init__(self, config: Any, encoder: torch.nn.Module | None = None) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        encoder = encoder if encoder is not None else AutoModel.from_config(config, add_pooling_layer=False)
        # "bert", "mpnet", ...: Hugging Face's own name for the encoder, so its weights keep their names.
        self.encoder_name: str = getattr(encoder, "base_model_prefix", "") or "base_encoder"
        self.add_module(self.encoder_name, encoder)
        self.dropout = torch.nn.Dropout(config.hidden_dropout_prob)
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @property
    def encoder(self) -> torch.nn.Module:
        return getattr(self, self.encoder_name)

    def _init_weights(self, module: torch.nn.Module) -> None:
        # Only the head is new; the encoder's weights come from the checkpoint.
        if module is getattr(self, "classifier", None):
            torch.nn.init.normal_(module.weight, std=getattr(self.config, "initializer_range", 0.02))
            torch.nn.init.zeros_(module.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any
    ) -> SequenceClassifierOutput:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(pooled)))


def _head_kwargs(id2label: dict[int, str]) -> dict[str, Any]:
    return {
        "num_labels": len(id2label),
        "id2label": id2label,
        "label2id": {v: k for k, v in id2label.items()},
    }


def new_classifier(base: Path, pooling: str, id2label: dict[int, str]) -> torch.nn.Module:
    """A classifier with `base`'s pretrained encoder and a new head."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling {pooling!r}: expected one of {', '.join(POOLINGS)}")
    if pooling == "cls":
        model = AutoModelForSequenceClassification.from_pretrained(str(base), **_head_kwargs(id2label))
    else:
        config = AutoConfig.from_pretrained(str(base), **_head_kwargs(id2label))
        encoder = AutoModel.from_pretrained(str(base), add_pooling_layer=False)
        model = MeanPoolForSequenceClassification(config, encoder)
    model.config.finsent_pooling = pooling
    return model


def new_classifier_from_config(config: PretrainedConfig, pooling: str = "mean") -> torch.nn.Module:
    """A randomly initialised classifier of a given architecture (tests, with a tiny config)."""
    if pooling == "cls":
        model = AutoModelForSequenceClassification.from_config(config)
    else:
        model = MeanPoolForSequenceClassification(config)
    model.config.finsent_pooling = pooling
    return model


def load_classifier(folder: Path) -> torch.nn.Module:
    """A folder written by `finsent train`, with the head it was trained with."""
    config = AutoConfig.from_pretrained(str(folder))
    if getattr(config, "finsent_pooling", "cls") == "mean":
        return MeanPoolForSequenceClassification.from_pretrained(str(folder), config=config).eval()
    return AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
