"""Fast tokenisation (any Hugging Face tokenizer.json: BERT/MiniLM's WordPiece, MPNet's) with dynamic
padding: texts are sorted by length and padded only to the longest text of their own chunk, which
roughly halves the tokens a batch carries.

A chunk is never narrower than MIN_WIDTH tokens: the TensorRT engine's optimisation profile starts
at sequence length 8, and the extra padding is masked, so it changes no score."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

MIN_WIDTH = 8


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows `index` of the caller's texts, tokenised and padded together."""

    index: np.ndarray
    input_ids: np.ndarray
    attention_mask: np.ndarray


def pad_id(tok: Tokenizer, tokenizer_file: Path) -> int:
    """The model's own padding id: BERT pads with [PAD] = 0, MPNet with <pad> = 1. Padding is masked,
    but a wrong id still changes a model whose position ids follow the padding (MPNet, RoBERTa)."""
    if tok.padding is not None:
        return int(tok.padding["pad_id"])
    config = tokenizer_file.with_name("tokenizer_config.json")
    if config.is_file():
        token = json.loads(config.read_text()).get("pad_token")
        if isinstance(token, dict):  # older files store an AddedToken
            token = token.get("content")
        found = tok.token_to_id(token) if isinstance(token, str) else None
        if found is not None:
            return int(found)
    for token in ("[PAD]", "<pad>"):
        found = tok.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


class TextEncoder:
    def __init__(self, tokenizer_file: Path, max_length: int) -> None:
        self._tok = Tokenizer.from_file(str(tokenizer_file))
        self.pad_id = pad_id(self._tok, tokenizer_file)
        self._tok.no_padding()
        self._tok.enable_truncation(max_length=max_length)
        self.max_length = max_length

    def chunks(self, texts: Sequence[str], chunk_size: int) -> Iterator[Chunk]:
        """Chunks of texts of similar length, longest first: when chunks run concurrently, the last
        ones to start are then the shortest, so lanes finish together instead of one lane working
        alone through a long chunk at the end."""
        encodings = self._tok.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        for start in reversed(range(0, len(order), chunk_size)):
            index = order[start : start + chunk_size]
            width = max(int(lengths[index].max()), min(MIN_WIDTH, self.max_length))
            ids = np.full((len(index), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(index), width), dtype=np.int64)
            for row, i in enumerate(index):
                n = lengths[i]
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            yield Chunk(index=index, input_ids=ids, attention_mask=mask)

    def map_chunks(
        self,
        texts: Sequence[str],
        chunk_size: int,
        run: Callable[[Chunk], np.ndarray],
        width: int,
        executor: Executor | None = None,
    ) -> np.ndarray:
        """`run` on every chunk, its rows put back in the order of `texts`: a (len(texts), width) array.

        With an `executor`, chunks run concurrently on its workers."""
        out = np.empty((len(texts), width), dtype=np.float32)
        mapper = executor.map if executor is not None else map
        for chunk, result in mapper(lambda c: (c, run(c)), self.chunks(texts, chunk_size)):
            out[chunk.index] = result
        return out
