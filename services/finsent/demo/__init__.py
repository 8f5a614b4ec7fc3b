"""The embedded demo: bundled data, the demo model, the replay run."""
