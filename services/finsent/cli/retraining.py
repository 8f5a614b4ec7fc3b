"""The retraining commands: `retrain` (one run), `rollback` (serve an earlier version again) and
`scheduler` (runs on a schedule, and the labels topic with --kafka)."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from finsent.cli._common import HelpFormatter, add_settings_flags, settings_from_args, setup_logging

__all__ = ["register"]


def register(sub: Any) -> None:
    retrain = sub.add_parser(
        "retrain",
        help="one retraining run: labels + data -> train -> compare with the serving model -> promote or not",
        formatter_class=HelpFormatter,
    )
    add_settings_flags(retrain, "retrain")
    retrain.set_defaults(func=cmd_retrain)

    rollback = sub.add_parser(
        "rollback",
        help="serve an earlier model version again (as a new, higher version)",
        formatter_class=HelpFormatter,
    )
    rollback.add_argument(
        "--to",
        type=int,
        default=None,
        help="the version to serve again; default: the one the serving one replaced",
    )
    add_settings_flags(rollback, "rollback")
    rollback.set_defaults(func=cmd_rollback)

    scheduler = sub.add_parser(
        "scheduler",
        help="run retraining on a schedule (and, with --kafka, store labels from the labels topic)",
        formatter_class=HelpFormatter,
    )
    add_settings_flags(scheduler, "scheduler")
    scheduler.set_defaults(func=cmd_scheduler)


def cmd_retrain(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    from finsent.app import wiring
    from finsent.app.retraining import retrain_now

    stop = threading.Event()
    wiring.install_signal_handlers(stop)  # SIGTERM: the run is abandoned cleanly, nothing promoted
    result = retrain_now(settings, stop, progress=sys.stderr.isatty())
    print(f"run {result.run_id}: {result.outcome}: {result.reason}")
    if result.report is not None:
        print(f"report: {result.report.with_suffix('.md')} (and {result.report.name})")
    return 0 if result.outcome in ("promoted", "rejected", "skipped") else 1


def cmd_rollback(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    from finsent.app.retraining import rollback_to

    manifest = rollback_to(settings, args.to)
    print(
        f"{settings.model_name}: version {manifest.version} now serves the weights of version "
        f"{manifest.model_dump()['rollback_of']}"
    )
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    from finsent.app import wiring
    from finsent.app.scheduler import run_scheduler

    stop = threading.Event()
    wiring.install_signal_handlers(stop)
    return run_scheduler(settings, stop)
