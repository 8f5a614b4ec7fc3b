"""The embedded demo: `make_data` (the bundled feed and training texts, written for this project)
and `model` (the small template model the tests use as a fixture)."""

__all__ = ["make_data", "model"]
