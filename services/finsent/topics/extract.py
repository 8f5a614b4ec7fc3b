"""Topic extraction: producer-given topics, cashtags and an entity dictionary.

Topics are tickers (`AAPL`) and sectors (`sector:technology`). A company name or alias found in the
text (case-sensitive, on word boundaries, longest alias first) maps to its ticker; every ticker
also tags its sector, so sectors aggregate their members. Producer topics are normalised the same
way; unknown ones are kept as given (and bounded later by the metrics' label limit)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field

SECTOR_PREFIX = "sector:"
CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,5}(?:\.[A-Za-z]{1,2})?)\b")


class Entity(BaseModel):
    name: str
    aliases: list[str] = Field(default_factory=list)
    sector: str | None = None


class EntityDictionary(BaseModel):
    entities: dict[str, Entity]


def load_entities(path: Path | None = None) -> EntityDictionary:
    if path is None:
        text = (resources.files("finsent.topics") / "entities.json").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return EntityDictionary.model_validate(json.loads(text))


class TopicExtractor:
    def __init__(self, entities: EntityDictionary, max_topics: int = 16) -> None:
        self._max = max_topics
        self._tickers = {t.upper(): e for t, e in entities.entities.items()}
        self._sectors = {e.sector.lower() for e in self._tickers.values() if e.sector}
        alias_to_ticker: dict[str, str] = {}
        for ticker, e in self._tickers.items():
            for alias in {e.name, *e.aliases}:
                alias_to_ticker[alias] = ticker
        self._alias_lower = {a.lower(): t for a, t in alias_to_ticker.items()}
        self._alias_to_ticker = alias_to_ticker
        # Longest first, so "Bank of America" wins over a shorter alias inside it.
        ordered = sorted(alias_to_ticker, key=len, reverse=True)
        self._alias_re = (
            re.compile(r"(?<!\w)(" + "|".join(re.escape(a) for a in ordered) + r")(?!\w)")
            if ordered
            else None
        )

    def _add_ticker(self, ticker: str, out: dict[str, None]) -> None:
        out[ticker] = None
        sector = self._tickers[ticker].sector
        if sector:
            out[SECTOR_PREFIX + sector.lower()] = None

    def _normalise(self, topic: str, out: dict[str, None]) -> None:
        t = topic.strip().lstrip("$")
        if not t:
            return
        if t.upper() in self._tickers:
            self._add_ticker(t.upper(), out)
        elif t.lower() in self._alias_lower:
            self._add_ticker(self._alias_lower[t.lower()], out)
        elif t.lower().removeprefix(SECTOR_PREFIX) in self._sectors:
            out[SECTOR_PREFIX + t.lower().removeprefix(SECTOR_PREFIX)] = None
        else:
            out[t] = None

    def topics(self, text: str, given: list[str] | None = None) -> list[str]:
        out: dict[str, None] = {}
        for topic in given or []:
            self._normalise(topic, out)
        for m in CASHTAG.finditer(text):
            tag = m.group(1).upper()
            if tag in self._tickers:
                self._add_ticker(tag, out)
            else:
                out[tag] = None
        if self._alias_re is not None:
            for m in self._alias_re.finditer(text):
                self._add_ticker(self._alias_to_ticker[m.group(1)], out)
        return list(out)[: self._max]
