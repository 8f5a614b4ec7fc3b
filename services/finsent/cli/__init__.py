"""`finsent`: the command line, one module per command group: `stream` (run, aggregate, produce),
`training` (train, distill, split), `model` (build-model, evaluate, export), `retraining` (retrain,
rollback, scheduler), `labels`. Every settings flag is a field of `Settings` (also
`FINSENT_<NAME>`); `_common` turns them into flags and back."""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError

from finsent import __version__
from finsent.cli import labels, model, retraining, stream, training
from finsent.cli._common import settings_from_args

__all__ = [
    "build_parser",
    "labels",
    "main",
    "model",
    "retraining",
    "settings_from_args",
    "stream",
    "training",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finsent",
        description="FinSent: streaming financial-sentiment monitoring. "
        "`finsent run` with no --kafka replays the bundled sample feed in-process.",
    )
    parser.add_argument("--version", action="version", version=f"finsent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (stream, training, model, retraining, labels):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValidationError as exc:
        # Field and reason only: pydantic's own rendering repeats the input, which may be a secret.
        lines = [f"  {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()]
        print("finsent: invalid settings:\n" + "\n".join(lines), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error for the user; the traceback at DEBUG
        from finsent.app.errors import describe

        logging.getLogger("finsent").debug("failed", exc_info=True)
        line, code = describe(exc)
        print(line, file=sys.stderr)
        return code
