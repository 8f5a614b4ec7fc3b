"""One story counts once: which earlier story an item is a copy of.

The same wire headline from several outlets, a retweet, the same post with another link: within a
horizon, those are copies of one story, and a burst of copies is one piece of news, not forty
(RavenPack's novelty is the reference). Two passes, cheapest first:

- exact: the text normalised (case, links, "RT @user:", @mentions, an outlet suffix such as
  " - Reuters", punctuation and spacing) and hashed; most copies stop here;
- near: a MinHash of the normalised text's words and word pairs, looked up in an LSH index
  (`datasketch`), and every candidate checked with the exact Jaccard similarity of the two sets
  (LSH only proposes): at least `similarity` (0.8) is a copy. Word pairs keep a paraphrase about
  another company apart ("Airbus halts deliveries..." against "Boeing halts deliveries...": 0.73)
  and a changed figure makes a new story (0.79), while an outlet's name, a link or a retweet
  prefix leaves a copy.

Texts of fewer than four words are matched exactly only (too short to call near). Memory is
bounded: stories older than the horizon are forgotten, and at most `max_stories` are held (the
oldest go first)."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import OrderedDict
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

__all__ = ["NoveltyConfig", "StoryIndex", "normalise", "shingles"]

_LINK = re.compile(r"https?://\S+|www\.\S+")
_RETWEET = re.compile(r"^\s*rt\s+@\w+:?\s*")
_MENTION = re.compile(r"@\w+")
_OUTLET = re.compile(r"\s+[-|–—]\s+[\w .&]{2,30}$")  # " - Reuters", " | Bloomberg"
_WORD = re.compile(r"[$]?[\w'.%]+")
NUM_PERM = 64
MIN_WORDS = 4


def normalise(text: str) -> list[str]:
    """The words of a text as copies of it share them."""
    t = text.lower()
    t = _LINK.sub(" ", t)
    t = _RETWEET.sub("", t)
    t = _MENTION.sub(" ", t)
    t = _OUTLET.sub("", t.strip())
    return [w.strip(".'") for w in _WORD.findall(t) if w.strip(".'")]


def shingles(words: list[str]) -> set[str]:
    """Words and word pairs: pairs carry order, so the same words about another subject differ."""
    return set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}


@dataclass(frozen=True)
class NoveltyConfig:
    """How copies are told: `similarity` of words and word pairs to be a copy, within `horizon_s`."""

    similarity: float = 0.8
    horizon_s: float = 6 * 3600
    max_stories: int = 200_000

    def index(self) -> StoryIndex:
        return StoryIndex(self.horizon_s, self.similarity, self.max_stories)


@dataclass
class _Story:
    at_s: float
    shingles: frozenset[str]


class StoryIndex:
    def __init__(self, horizon_s: float, similarity: float = 0.8, max_stories: int = 200_000) -> None:
        self.horizon_s, self.similarity, self.max_stories = horizon_s, similarity, max_stories
        self._exact: dict[str, str] = {}  # normalised-text hash -> story key
        self._stories: OrderedDict[str, _Story] = OrderedDict()  # story key -> story, oldest first
        self._lsh = MinHashLSH(threshold=similarity, num_perm=NUM_PERM)
        self.newest_s = 0.0

    def __len__(self) -> int:
        return len(self._stories)

    def __contains__(self, key: object) -> bool:
        return key in self._stories

    def story_of(self, text: str, at_s: float) -> str:
        """The key of the story `text` is a copy of, or a new story's key (the text's own hash)."""
        words = normalise(text)
        digest = hashlib.blake2b(" ".join(words).encode(), digest_size=12).hexdigest()
        self._forget(at_s)
        known = self._exact.get(digest)
        if known is not None and known in self._stories:
            return known
        grams = frozenset(shingles(words))
        minhash: MinHash | None = None
        if len(words) >= MIN_WORDS:
            minhash = MinHash(num_perm=NUM_PERM)
            minhash.update_batch([g.encode() for g in sorted(grams)])
            for key in sorted(self._lsh.query(minhash)):
                other = self._stories.get(key)
                if other is not None and _jaccard(grams, other.shingles) >= self.similarity:
                    self._exact[digest] = key  # the next identical copy takes the fast path
                    return key
        self._stories[digest] = _Story(at_s, grams)
        self._exact[digest] = digest
        if minhash is not None:
            self._lsh.insert(digest, minhash)
        return digest

    def _forget(self, at_s: float) -> None:
        self.newest_s = max(self.newest_s, at_s)
        cutoff = self.newest_s - self.horizon_s
        while self._stories:
            key, story = next(iter(self._stories.items()))
            if story.at_s >= cutoff and len(self._stories) < self.max_stories:
                break
            del self._stories[key]
            if key in self._lsh:
                self._lsh.remove(key)
            self._exact.pop(key, None)
        # Aliases (near copies' hashes) of forgotten stories are skipped on lookup, and dropped
        # here once they could outnumber the stories.
        if len(self._exact) > 2 * self.max_stories:
            self._exact = {d: k for d, k in self._exact.items() if k in self._stories}


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
