"""Tiny randomly initialised encoders with real tokenizers: fast enough to train many times in a test
(a few seconds on 2 cores), real enough to go through train -> export -> serve."""

from __future__ import annotations

import shutil
from pathlib import Path


def tiny_bert_base(folder: Path, *, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """A 2-layer BERT with all-MiniLM-L6-v2's tokenizer (its vocabulary, so any text tokenizes)."""
    from transformers import BertConfig, BertModel

    from finsent.training.bases import minilm_base

    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    base = minilm_base()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (base / name).is_file():
            shutil.copy2(base / name, folder / name)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=512,
    )
    import torch

    # Seeded, so that every test on a tiny base sees the same weights (an unseeded base made figures
    # such as dynamic int8's batch dependence differ from run to run), without moving the caller's RNG.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        BertModel(config).save_pretrained(str(folder))
    return folder
