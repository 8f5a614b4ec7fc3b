"""Event types: what a text is about (an analyst update, a lawsuit, earnings...), the model's second
head beside sentiment. The taxonomy is the one of the MIT-licensed twitter-financial-news-topic set
(20 types), in its id order, so a model trained on it needs no mapping.

A model version carries its own event labels in its manifest; this tuple is the taxonomy FinSent's
training accepts and its aggregation counts (bounded: an unknown name is counted as `OTHER_EVENT`)."""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "Analyst Update",
    "Fed | Central Banks",
    "Company | Product News",
    "Treasuries | Corporate Debt",
    "Dividend",
    "Earnings",
    "Energy | Oil",
    "Financials",
    "Currencies",
    "General News | Opinion",
    "Gold | Metals | Materials",
    "IPO",
    "Legal | Regulation",
    "M&A | Investments",
    "Macro",
    "Markets",
    "Politics",
    "Personnel Change",
    "Stock Commentary",
    "Stock Movement",
)

# Counted in place of an event type outside the taxonomy (a model trained on another one).
OTHER_EVENT = "Other"

MAX_EVENT_TYPE_CHARS = 64


def bounded_event_type(name: str | None) -> str | None:
    """`name` when it is in the taxonomy, OTHER_EVENT when it is not, None when there is none."""
    if name is None:
        return None
    return name if name in EVENT_TYPES else OTHER_EVENT
