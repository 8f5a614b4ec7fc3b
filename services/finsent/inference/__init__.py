"""Scoring backends behind one interface (`backend`): the embedded ONNX Runtime one (`embedded`),
Triton's client (`triton_backend`), a TensorRT engine's runner (`tensorrt_engine`); `tokenize`
(fast tokenisation with dynamic padding) and `model_repo` (versions, manifests, installs)."""

__all__ = ["backend", "embedded", "model_repo", "tensorrt_engine", "tokenize", "triton_backend"]
