"""The classifier: a pretrained encoder (BERT/MiniLM, MPNet, or any Hugging Face `AutoModel`) and a
3-way linear head over a pooled sentence vector.

all-MiniLM-L6-v2 and all-mpnet-base-v2 were trained (as sentence-transformers models) to produce
sentence vectors by *mean pooling* their token states; their first-token poolers were not part of
that training. So FinSent's default head mean-pools the token states (masking padding), and
`--pooling cls` keeps the architecture's own sequence-classification head (Hugging Face's). The
pooling is recorded in the model's config (`finsent_pooling`), and every loader goes through
`load_classifier`, which builds the right head.

An optional second head classifies the event type (`config.finsent_event_labels`, see
contracts/event_type.py) from the same pooled vector: one encoder pass gives both answers. It needs
mean pooling; a model without it has `event_logits` None everywhere.

The encoder sits under the architecture's own attribute name (`bert`, `mpnet`, …), so the saved
weights are named as Hugging Face names them, and folders trained before this class was made
generic (`MeanPoolBertForSequenceClassification`, `bert.*` weights) load unchanged."""

from __future__ import annotations

from dataclasses import dataclass
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
EVENT_LABELS_KEY = "finsent_event_labels"


@dataclass
class TwoHeadOutput(SequenceClassifierOutput):
    """Sentiment `logits` and, for a model with an event head, `event_logits`."""

    event_logits: torch.FloatTensor | None = None


def event_labels_of(model_or_config: Any) -> list[str] | None:
    """The event head's labels, or None for a sentiment-only model."""
    config = getattr(model_or_config, "config", model_or_config)
    labels = getattr(config, EVENT_LABELS_KEY, None)
    return [str(x) for x in labels] if labels else None


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
        events = event_labels_of(config)
        self.event_classifier = torch.nn.Linear(config.hidden_size, len(events)) if events else None
        self.post_init()

    @property
    def encoder(self) -> torch.nn.Module:
        return getattr(self, self.encoder_name)

    def _init_weights(self, module: torch.nn.Module) -> None:
        # Only the heads are new; the encoder's weights come from the checkpoint.
        heads = (getattr(self, "classifier", None), getattr(self, "event_classifier", None))
        if isinstance(module, torch.nn.Linear) and any(module is h for h in heads):
            torch.nn.init.normal_(module.weight, std=getattr(self.config, "initializer_range", 0.02))
            torch.nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> TwoHeadOutput:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = self.dropout((states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9))
        events = self.event_classifier(pooled) if self.event_classifier is not None else None
        return TwoHeadOutput(logits=self.classifier(pooled), event_logits=events)


def _head_kwargs(id2label: dict[int, str]) -> dict[str, Any]:
    return {
        "num_labels": len(id2label),
        "id2label": id2label,
        "label2id": {v: k for k, v in id2label.items()},
    }


def _check_heads(pooling: str, event_labels: list[str] | None) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"pooling {pooling!r}: expected one of {', '.join(POOLINGS)}")
    if event_labels and pooling != "mean":
        raise ValueError("the event-type head needs mean pooling (--pooling mean)")


def new_classifier(
    base: Path, pooling: str, id2label: dict[int, str], event_labels: list[str] | None = None
) -> torch.nn.Module:
    """A classifier with `base`'s pretrained encoder and new heads (an event head with
    `event_labels`)."""
    _check_heads(pooling, event_labels)
    if pooling == "cls":
        model = AutoModelForSequenceClassification.from_pretrained(str(base), **_head_kwargs(id2label))
    else:
        config = AutoConfig.from_pretrained(str(base), **_head_kwargs(id2label))
        setattr(config, EVENT_LABELS_KEY, list(event_labels) if event_labels else None)
        encoder = AutoModel.from_pretrained(str(base), add_pooling_layer=False)
        model = MeanPoolForSequenceClassification(config, encoder)
    model.config.finsent_pooling = pooling
    return model


def new_classifier_from_config(
    config: PretrainedConfig, pooling: str = "mean", event_labels: list[str] | None = None
) -> torch.nn.Module:
    """A randomly initialised classifier of a given architecture (tests, with a tiny config)."""
    _check_heads(pooling, event_labels)
    setattr(config, EVENT_LABELS_KEY, list(event_labels) if event_labels else None)
    if pooling == "cls":
        model = AutoModelForSequenceClassification.from_config(config)
    else:
        model = MeanPoolForSequenceClassification(config)
    model.config.finsent_pooling = pooling
    return model


def load_classifier(folder: Path, event_labels: list[str] | None = None) -> torch.nn.Module:
    """A folder written by `finsent train`, with the heads it was trained with. `event_labels`
    (warm-starting a sentiment-only model on event data too) adds a new event head, or replaces
    one trained with other labels."""
    config = AutoConfig.from_pretrained(str(folder))
    if event_labels and event_labels != event_labels_of(config):
        _check_heads(getattr(config, "finsent_pooling", "cls"), event_labels)
        setattr(config, EVENT_LABELS_KEY, list(event_labels))
        return MeanPoolForSequenceClassification.from_pretrained(
            str(folder), config=config, ignore_mismatched_sizes=True
        ).eval()
    if getattr(config, "finsent_pooling", "cls") == "mean":
        return MeanPoolForSequenceClassification.from_pretrained(str(folder), config=config).eval()
    return AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
