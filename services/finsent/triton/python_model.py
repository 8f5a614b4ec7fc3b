"""Triton Python-backend model: serves one exported FinSent version (model.onnx beside this file)
with ONNX Runtime on CPU. `finsent export` copies this file into every version folder as model.py.

Contract: inputs `input_ids`, `attention_mask` (INT64, [batch, sequence]) -> output `logits`
(FP32, [batch, 3]). Inputs are ragged (`allow_ragged_batch`): requests of different sequence
lengths are batched by Triton and padded together here, so dynamic batching really merges them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils  # provided by Triton's Python backend


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        version_dir = Path(args["model_repository"]) / args["model_version"]
        opts = ort.SessionOptions()
        config = json.loads(args["model_config"])
        threads = int(config.get("parameters", {}).get("ORT_THREADS", {}).get("string_value", "0") or 0)
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(version_dir / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def execute(self, requests: list) -> list:
        ids_list, mask_list = [], []
        for request in requests:
            ids_list.append(pb_utils.get_input_tensor_by_name(request, "input_ids").as_numpy())
            mask_list.append(pb_utils.get_input_tensor_by_name(request, "attention_mask").as_numpy())
        rows = [ids.reshape(-1, ids.shape[-1]) for ids in ids_list]
        masks = [m.reshape(-1, m.shape[-1]) for m in mask_list]
        width = max(r.shape[1] for r in rows)
        ids = np.zeros((sum(r.shape[0] for r in rows), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        start = 0
        for r, m in zip(rows, masks, strict=True):
            ids[start : start + r.shape[0], : r.shape[1]] = r
            mask[start : start + r.shape[0], : m.shape[1]] = m
            start += r.shape[0]
        (logits,) = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        responses, start = [], 0
        for r in rows:
            out = logits[start : start + r.shape[0]].astype(np.float32)
            start += r.shape[0]
            responses.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("logits", out)]))
        return responses

    def finalize(self) -> None:
        self.session = None
