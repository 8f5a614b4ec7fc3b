"""Running a TensorRT engine (a `model.plan` built by `finsent export --format tensorrt`) from
Python, for the engine's check against ONNX and for GPU benchmarks. Triton runs plans natively; this
is not the serving path. Needs an NVIDIA GPU, torch with CUDA and `tensorrt` 10+."""

from __future__ import annotations

from typing import Any

import numpy as np

from finsent.contracts.news import LABELS
from finsent.inference.tokenize import Chunk, TextEncoder


class TensorRTUnavailable(RuntimeError):
    pass


def gpu_or_explain() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTUnavailable(
            "the TensorRT format needs an NVIDIA GPU and the `tensorrt` Python package; run this on a GPU "
            "host (e.g. inside nvcr.io/nvidia/tritonserver or nvcr.io/nvidia/tensorrt). On CPU, export "
            "--format onnx or onnx-int8 and serve with Triton's Python backend."
        ) from exc
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = True  # let TensorRT itself say so
    if not has_gpu:
        raise TensorRTUnavailable("no CUDA GPU is visible: TensorRT engines are built on the GPU they run on")
    return trt


class TrtEngine:
    """A deserialised engine with one execution context; inputs and outputs are CUDA torch tensors,
    so a caller that keeps its batches on the GPU pays no host copies."""

    def __init__(self, plan: bytes) -> None:
        trt = gpu_or_explain()
        import torch

        self._torch = torch
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(plan)
        if self._engine is None:
            raise RuntimeError("TensorRT could not deserialise the engine (built by another version or GPU?)")
        self._context = self._engine.create_execution_context()
        pairs = (
            ("int64", torch.int64),
            ("int32", torch.int32),
            ("float32", torch.float32),
            ("float16", torch.float16),
        )
        to_torch = {
            getattr(trt, name): dtype for name, dtype in pairs if hasattr(trt, name)
        }  # int64: TRT >= 10
        names = {self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)}
        # A two-head engine has `event_logits` beside `logits`; its width comes from the engine.
        self.outputs = ["logits", "event_logits"] if "event_logits" in names else ["logits"]
        self._widths = {"logits": len(LABELS)}
        if "event_logits" in names:
            self._widths["event_logits"] = int(self._engine.get_tensor_shape("event_logits")[-1])
        self._dtypes = {
            name: to_torch[self._engine.get_tensor_dtype(name)]
            for name in ("input_ids", "attention_mask", *self.outputs)
        }

    @property
    def width(self) -> int:
        """Columns `run` returns: the sentiment logits, then the event-type logits if any."""
        return sum(self._widths.values())

    def run(self, input_ids: Any, attention_mask: Any) -> Any:
        """The logits of every output, side by side (sentiment first)."""
        torch = self._torch
        batch, width = input_ids.shape
        outs = {
            name: torch.empty((batch, self._widths[name]), dtype=self._dtypes[name], device="cuda")
            for name in self.outputs
        }
        for name, tensor in (("input_ids", input_ids), ("attention_mask", attention_mask)):
            tensor = tensor.to(device="cuda", dtype=self._dtypes[name]).contiguous()
            if not self._context.set_input_shape(name, (batch, width)):
                raise ValueError(
                    f"{name} shape {(batch, width)} is outside the engine's optimisation profile"
                )
            self._context.set_tensor_address(name, tensor.data_ptr())
            setattr(self, f"_keep_{name}", tensor)  # alive until the stream has run
        for name, out in outs.items():
            self._context.set_tensor_address(name, out.data_ptr())
        if not self._context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError("TensorRT execution failed (see the log above)")
        return torch.cat([outs[name].float() for name in self.outputs], dim=1)

    def logits(self, encoder: TextEncoder, texts: list[str], chunk_size: int) -> np.ndarray:
        def run(chunk: Chunk) -> np.ndarray:
            ids, mask = (self._torch.from_numpy(a) for a in (chunk.input_ids, chunk.attention_mask))
            return self.run(ids, mask).cpu().numpy()

        return encoder.map_chunks(texts, chunk_size, run, self.width)
