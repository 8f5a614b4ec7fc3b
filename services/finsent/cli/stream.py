"""The stream commands: `run` (the scorer, or the embedded replay), `aggregate` (windows, alerts,
webhooks) and `produce` (a JSONL file onto the news topic)."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from finsent.cli._common import HelpFormatter, add_settings_flags, settings_from_args, setup_logging

__all__ = ["register"]


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="score the news stream (embedded sample feed, or --kafka HOST:PORT)",
        formatter_class=HelpFormatter,
    )
    add_settings_flags(run, "run")
    run.set_defaults(func=cmd_run)

    aggregate = sub.add_parser(
        "aggregate",
        help="per-topic windows, spike alerts and metrics from the scored stream (--kafka HOST:PORT)",
        formatter_class=HelpFormatter,
    )
    add_settings_flags(aggregate, "aggregate")
    aggregate.set_defaults(func=cmd_aggregate)

    produce = sub.add_parser("produce", help="send a JSONL file (default: the sample feed) to the news topic")
    produce.add_argument("--file", help="JSONL file; default: the bundled sample feed")
    add_settings_flags(produce, "produce")
    produce.set_defaults(func=cmd_produce)


def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    from finsent.app import embedded, scorer, wiring

    stop = threading.Event()
    wiring.install_signal_handlers(stop)
    if settings.embedded:
        print(embedded.run_embedded(settings, stop).render())
        return 0
    return scorer.run_kafka(settings, stop)


def cmd_aggregate(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    from finsent.app import aggregator, wiring

    if settings.embedded:
        print(
            "finsent aggregate needs --kafka HOST:PORT (embedded `finsent run` aggregates in-process)",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    wiring.install_signal_handlers(stop)
    return aggregator.run_aggregate(settings, stop)


def cmd_produce(args: argparse.Namespace) -> int:
    """Send a JSONL file (default: the bundled sample feed) to the news topic, one record per line."""
    from finsent.app.produce import produce_file
    from finsent.app.wiring import bundled_feed

    settings = settings_from_args(args)
    if settings.kafka is None:
        print("finsent produce needs --kafka HOST:PORT (or FINSENT_KAFKA)", file=sys.stderr)
        return 2
    path = Path(args.file) if args.file else bundled_feed()
    n = produce_file(settings, path)
    print(f"sent {n} records from {path} to {settings.news_topic}")
    return 0
