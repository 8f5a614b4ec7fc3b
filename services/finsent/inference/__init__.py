"""Scoring backends behind one interface: the embedded ONNX Runtime one, and Triton's client."""
