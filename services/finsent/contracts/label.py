"""An analyst's label for a text (JSON on `finsent.labels`, or a line of `finsent labels import`).

Analysts correct the model; retraining learns from those corrections. A label event is the unit of
that feedback: what text, which label, who said so and when."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from finsent.contracts.news import MAX_ID_CHARS, MAX_TEXT_CHARS, Label, NonEmptyId, UtcDatetime

MAX_LABELLER_CHARS = 128
MAX_NOTE_CHARS = 2_000


class LabelEvent(BaseModel):
    """One analyst's label for one text. The same text labelled again by the same labeller replaces
    the earlier label (the later `labelled_at` wins); labels of different labellers are combined by
    majority when the training set is built."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    item_id: NonEmptyId = Field(description=f"the news item's id (at most {MAX_ID_CHARS} characters)")
    text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)
    ] = Field(description="the text as the analyst judged it")
    label: Label
    labeller: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LABELLER_CHARS)
    ] = Field(description="who labelled it (a person or a team account)")
    labelled_at: UtcDatetime = Field(description="RFC 3339, with a time zone")
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTE_CHARS)] | None = None
