"""Per-topic sentiment over sliding windows, and negative-spike detection."""
