"""Triton Inference Server: the Python-backend model it serves on CPU (`python_model`)."""

__all__ = ["python_model"]
