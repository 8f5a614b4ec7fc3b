"""Triton Python-backend model: serves one exported FinSent version (model.onnx beside this file)
with ONNX Runtime on CPU. `finsent export` copies this file into every version folder as model.py.

Contract: inputs `input_ids`, `attention_mask` (INT64, [batch, sequence]) -> output `logits`
(FP32, [batch, 3]) and, for a version with an event-type head, `event_logits` (FP32,
[batch, 20]). Inputs are ragged (`allow_ragged_batch`): requests of different sequence
lengths are batched by Triton and merged here: all rows of the merged batch are sorted by length and
run in chunks of `ORT_CHUNK` rows, each padded only to its own longest row, on `ORT_THREADS` lanes
(single-threaded ONNX Runtime runs, concurrently). This mirrors FinSent's embedded backend
(finsent.inference.embedded); it is repeated here because this file runs inside Triton's Python
backend stub, which must not need the finsent package."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        version_dir = Path(args["model_repository"]) / args["model_version"]
        params = json.loads(args["model_config"]).get("parameters", {})

        def param(key: str) -> int:
            return int(params.get(key, {}).get("string_value", "0") or 0)

        self.lanes = param("ORT_THREADS") or (os.cpu_count() or 1)
        self.chunk = param("ORT_CHUNK") or 16
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(version_dir / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        names = {o.name for o in self.session.get_outputs()}
        self.outputs = ["logits", "event_logits"] if "event_logits" in names else ["logits"]
        self.pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="ort")
        # Rows merged from several requests are padded with the model's own id (MPNet's is 1).
        manifest = version_dir / "manifest.json"
        self.pad_id = int(json.loads(manifest.read_text()).get("pad_id", 0)) if manifest.is_file() else 0

    def _run(self, ids: np.ndarray, mask: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        width = max(int(lengths.max()), 1)
        return self.session.run(
            self.outputs, {"input_ids": ids[:, :width], "attention_mask": mask[:, :width]}
        )

    def execute(self, requests: list) -> list:
        rows, masks = [], []
        for request in requests:
            ids = pb_utils.get_input_tensor_by_name(request, "input_ids").as_numpy()
            mask = pb_utils.get_input_tensor_by_name(request, "attention_mask").as_numpy()
            rows.append(ids.reshape(-1, ids.shape[-1]))
            masks.append(mask.reshape(-1, mask.shape[-1]))
        width = max(r.shape[1] for r in rows)
        ids = np.full((sum(r.shape[0] for r in rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        start = 0
        for r, m in zip(rows, masks, strict=True):
            ids[start : start + r.shape[0], : r.shape[1]] = r
            mask[start : start + m.shape[0], : m.shape[1]] = m
            start += r.shape[0]
        # Real length = last unmasked position + 1 (masks are right-padded).
        lengths = np.where(mask.any(axis=1), width - np.argmax(mask[:, ::-1], axis=1), 0)
        order = np.argsort(lengths, kind="stable")
        size = max(1, min(self.chunk, -(-len(order) // self.lanes)))
        # Longest first: the last chunks to start are the shortest, so the lanes finish together.
        parts = [order[i : i + size] for i in range(0, len(order), size)][::-1]
        results = list(self.pool.map(lambda idx: self._run(ids[idx], mask[idx], lengths[idx]), parts))
        merged = []
        for k in range(len(self.outputs)):
            out = np.empty((len(order), results[0][k].shape[1]), dtype=np.float32)
            for idx, result in zip(parts, results, strict=True):
                out[idx] = result[k]
            merged.append(out)
        responses, start = [], 0
        for r in rows:
            stop = start + r.shape[0]
            tensors = [
                pb_utils.Tensor(name, m[start:stop]) for name, m in zip(self.outputs, merged, strict=True)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = stop
        return responses

    def finalize(self) -> None:
        self.pool.shutdown(wait=True)
        self.session = None
