"""Triton Inference Server: the Python-backend model it serves on CPU, and the TensorRT build."""
