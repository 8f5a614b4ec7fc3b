"""Numeric precision of training and of the teacher's inference pass.

bf16 autocast halves a BERT's step on CPUs with AVX-512 BF16 or AMX (measured here: MPNet 0.22 ->
0.11 s an example), but on CPUs without them PyTorch emulates bf16 and is slower than fp32. So
"auto" turns it on only where the CPU (or the GPU) has it; the loss, the pooling and the softmax
stay in fp32 (callers cast the logits)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PRECISIONS", "autocast", "cpu_has_bf16", "resolve_precision"]

PRECISIONS = ("auto", "bf16", "fp32")
# /proc/cpuinfo flags of the instructions that make bf16 matrix work fast on x86 CPUs.
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU advertises native bf16 arithmetic (Linux; False where unknown)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_BF16_FLAGS & set(line.split(":", 1)[-1].split()))
    return False


def resolve_precision(name: str, device: str) -> str:
    """ "bf16" or "fp32" for `name` ("auto", "bf16", "fp32") on `device`."""
    if name not in PRECISIONS:
        raise ValueError(f"precision {name!r}: expected one of {', '.join(PRECISIONS)}")
    if name != "auto":
        return name
    if device.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


@contextlib.contextmanager
def autocast(precision: str, device: str) -> Iterator[None]:
    """torch.autocast to bf16 for "bf16", nothing for "fp32"."""
    if precision != "bf16":
        yield
        return
    import torch

    with torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16):
        yield
