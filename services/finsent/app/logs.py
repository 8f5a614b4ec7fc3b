"""The console log every command sets up: FinSent's loggers at the chosen level, third-party ones at
WARNING, repeated warnings throttled."""

from __future__ import annotations

import logging
import os
import sys

from finsent.observability import log_throttle

__all__ = ["setup_logging"]


def setup_logging(level: str) -> None:
    # Third-party libraries (kafka, onnxruntime's quantiser, transformers) are chatty at INFO: the
    # chosen level applies to FinSent's own loggers, the rest stay at WARNING.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("finsent").setLevel(level)
    if level != "DEBUG":
        # A quiet console: transformers' weight-loading bars and load reports ("UNEXPECTED
        # pooler.dense.weight", expected when a head is replaced) say nothing a user can act on.
        # Read when transformers is first imported; the environment still overrides.
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    log_throttle.install()
