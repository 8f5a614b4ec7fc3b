"""One story counts once: copies of a story (the same wire headline from several outlets, retweets,
another link) count once in a topic's volume and share, and an alert's evidence lists distinct
stories with their copy counts; other stories, a paraphrase about another company included, count."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from finsent.aggregate.aggregator import Aggregator
from finsent.aggregate.detector import DetectorConfig
from finsent.aggregate.stories import NoveltyConfig, StoryIndex
from support.scenarios import WINDOWS, ev

HEADLINE = "Acme recalls delivery trucks after brake failures injure drivers"
COPIES = [
    HEADLINE,
    HEADLINE + " - Reuters",
    HEADLINE + " | Bloomberg",
    f"RT @wire: {HEADLINE} https://t.co/abc123",
    f"{HEADLINE} https://news.example.com/story?id=42",
    f"@desk {HEADLINE.upper()}",
    f"{HEADLINE}!!",
]
PRODUCTS = ["trucks", "vans", "scooters", "forklifts", "tractors", "buses", "drones", "batteries"]
PROBLEMS = ["brake failures", "battery fires", "steering faults", "software crashes", "axle cracks"]


def distinct_headlines() -> list[str]:
    return [f"Acme recalls {p} after {q} reported by regulators" for p in PRODUCTS for q in PROBLEMS]


def quiet_topic_then(texts: list[str], novelty: bool = True) -> list:
    """Four hours of varied neutral items on ACME (one every 3 minutes), then `texts` as negative
    items over ten minutes (copies of HEADLINE the most negative)."""
    rng = random.Random(1)
    items = [ev(f"bg{m}", "ACME", m, "neutral") for m in range(0, 240, 3)]
    for i, text in enumerate(texts):
        score = -0.99 if text in COPIES else -0.9
        item = ev(f"n{i}", "ACME", 240 + rng.random() * 10, "negative", score)
        items.append(item.model_copy(update={"snippet": text}))
    items.sort(key=lambda e: e.published_at)
    a = Aggregator(WINDOWS, DetectorConfig(), novelty=NoveltyConfig() if novelty else None)
    return a.apply(items) + a.apply([ev("end", "ELSEWHERE", 60 * 8)])


def test_copies_of_a_story_are_one_story():
    index = StoryIndex(3600)
    assert len({index.story_of(text, 0.0) for text in COPIES}) == 1


def test_a_paraphrase_about_another_company_or_with_new_facts_is_another_story():
    index = StoryIndex(3600)
    boeing = index.story_of("Boeing halts deliveries as defect probe widens", 0.0)
    assert index.story_of("Airbus halts deliveries as defect probe widens", 0.0) != boeing
    assert index.story_of("Boeing halts deliveries as defect probe widens, shares fall 5%", 0.0) != boeing
    assert index.story_of("Boeing halts deliveries as defect probe widens - Reuters", 0.0) == boeing


def test_forty_copies_of_one_negative_headline_do_not_fire_but_forty_stories_do():
    copies = [COPIES[i % len(COPIES)] for i in range(40)]
    assert [a for a in quiet_topic_then(copies) if a.status == "firing"] == []
    # Without the novelty filter the copies are forty items, and fire: the filter is what holds.
    assert [a for a in quiet_topic_then(copies, novelty=False) if a.status == "firing"]
    stories = distinct_headlines()
    assert len(stories) == 40
    assert [a for a in quiet_topic_then(stories) if a.status == "firing"]


def test_the_evidence_lists_distinct_stories_with_their_copy_counts():
    texts = distinct_headlines()[:30] + [COPIES[i % len(COPIES)] for i in range(6)]
    firing = [a for a in quiet_topic_then(texts) if a.status == "firing"]
    assert firing
    snippets = [e.snippet for e in firing[0].evidence]
    assert len(snippets) == len(set(snippets))
    counted = {e.snippet: e.copies for e in firing[0].evidence}
    # The copied story, the most negative, is shown once, with its six copies; the others once each.
    copied = [n for s, n in counted.items() if s in COPIES]
    assert copied == [6], counted
    assert all(n == 1 for s, n in counted.items() if s not in COPIES)


def test_stories_are_forgotten_after_the_horizon_and_capped():
    index = StoryIndex(horizon_s=600, max_stories=50)
    first = index.story_of(HEADLINE, 0.0)
    assert index.story_of(HEADLINE, 300.0) == first
    for i, text in enumerate(distinct_headlines()):
        index.story_of(text, 700.0 + i)
    assert len(index) <= 50
    # Past the horizon (and the cap) the headline is forgotten: it is news again when it comes back.
    assert first not in index
    assert index.story_of(HEADLINE, 2000.0) == first and first in index and len(index) <= 50


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.floats(0, 1e9, allow_nan=False))
def test_any_text_gets_a_story_and_the_same_text_the_same_one(text, at):
    index = StoryIndex(3600)
    key = index.story_of(text, at)
    assert isinstance(key, str) and key
    assert index.story_of(text, at) == key
