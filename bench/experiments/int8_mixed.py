"""Which encoder MatMuls, kept in fp32, bring dynamic int8 to the export gate?

The shipped student's dynamic per-channel int8 agrees with its fp32 ONNX on 98.7% of sentiment and
97.8% of event-type argmaxes; the gate asks 99% for each head (training/export.py). This study
quantises the student once per variant, each keeping one group of weight MatMuls in fp32 (one
layer at a time, the FFN input or output projections, the attention projections), and reports both
heads' agreement on the student's validation part and the file size, so that a mixed-precision
recipe is chosen on measurements, not guessed.

    python -m bench.experiments.int8_mixed --student build/student --out bench/results/int8-mixed.json

`--student`: a trained folder (`finsent build-model`'s build/student). Results, with each file's
scoring speed (one pass, beside the fp32 file's in the same run), are written after every variant."""

from __future__ import annotations

import argparse
import json
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import Any

LAYERS = 6  # all-MiniLM-L6-v2


def variants(matmuls: list[str], gathers: list[str]) -> dict[str, list[str]]:
    """Variant name -> the nodes it keeps in fp32 (weight MatMuls; embedding Gathers)."""

    def matching(pattern: str) -> list[str]:
        return [n for n in matmuls if re.search(pattern, n)]

    out: dict[str, list[str]] = {"all int8": []}
    for layer in range(LAYERS):
        out[f"layer {layer} fp32"] = matching(rf"layer\.{layer}/")
    out["FFN input fp32"] = matching(r"/intermediate/")
    out["FFN output fp32"] = [n for n in matching(r"/output/dense/") if "/attention/" not in n]
    out["attention output fp32"] = matching(r"/attention/output/")
    out["query, key, value fp32"] = matching(r"/attention/self/(query|key|value)/")
    # Combinations of the groups that helped most on their own, and the embedding tables.
    out["layers 0-1 fp32"] = out["layer 0 fp32"] + out["layer 1 fp32"]
    out["layers 0-2 fp32"] = out["layers 0-1 fp32"] + out["layer 2 fp32"]
    out["FFN input and output fp32"] = out["FFN input fp32"] + out["FFN output fp32"]
    out["embeddings fp32"] = gathers
    out["embeddings and layers 0-1 fp32"] = gathers + out["layers 0-1 fp32"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.experiments.int8_mixed", description=__doc__)
    parser.add_argument("--student", type=Path, required=True, help="a trained folder (build/student)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/int8-mixed.json"))
    parser.add_argument("--max-length", type=int, default=128, help="as served")
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)  # the quantiser's pre-processing advice, once per variant

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from finsent.training.classifier import EVENT_LABELS_KEY
    from finsent.training.export import (
        _comparison_set,
        _export_fp32,
        _graph,
        _head_nodes,
        _onnx_logits,
        _weight_matmuls,
    )

    config = json.loads((args.student / "config.json").read_text())
    event_labels = config.get(EVENT_LABELS_KEY)
    texts = _comparison_set(args.student, None).texts
    tokenizer = args.student / "tokenizer.json"
    results: dict[str, Any] = {"student": str(args.student), "texts": len(texts), "variants": {}}
    with tempfile.TemporaryDirectory(prefix="finsent-int8-") as tmp:
        fp32 = Path(tmp) / "model.fp32.onnx"
        _export_fp32(args.student, fp32, args.max_length)
        started = time.perf_counter()
        reference = _onnx_logits(fp32, tokenizer, texts, args.max_length, event_labels)
        results["fp32_texts_per_s"] = round(len(texts) / (time.perf_counter() - started))
        graph = _graph(fp32)
        weights = {i.name for i in graph.initializer}
        matmuls = _weight_matmuls(fp32, graph)
        gathers = [n.name for n in graph.node if n.op_type == "Gather" and weights & set(n.input)]
        heads = _head_nodes(fp32, graph)
        for name, keep in variants(matmuls, gathers).items():
            started = time.perf_counter()
            int8 = Path(tmp) / "model.int8.onnx"
            quantize_dynamic(
                str(fp32),
                str(int8),
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=keep + heads,
            )
            scoring = time.perf_counter()
            scored = _onnx_logits(int8, tokenizer, texts, args.max_length, event_labels)
            texts_per_s = len(texts) / (time.perf_counter() - scoring)
            agreement = [
                round(float((r.argmax(1) == s.argmax(1)).mean()), 4)
                for r, s in zip(reference, scored, strict=True)
                if r is not None and s is not None
            ]
            row = {
                "kept_fp32": len(keep),
                "agreement_sentiment_event": agreement,
                "passes_0.99": all(a >= 0.99 for a in agreement),
                "mb": round(int8.stat().st_size / 1e6, 1),
                "texts_per_s": round(texts_per_s),  # one pass, on this machine's threads
                "seconds": round(time.perf_counter() - started, 1),
            }
            results["variants"][name] = row
            print(name, row, flush=True)
            args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
