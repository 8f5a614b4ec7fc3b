"""`finsent labels`: analysts' labels imported from files, their statistics, and the labels topic."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from finsent.cli._common import add_settings_flags, settings_from_args, setup_logging

__all__ = ["register"]


def register(sub: Any) -> None:
    labels = sub.add_parser("labels", help="analysts' labels: import files, show stats, consume from Kafka")
    labels_sub = labels.add_subparsers(dest="labels_command", required=True)
    imp = labels_sub.add_parser("import", help="store the labels of CSV or JSONL files (text,label[,...])")
    imp.add_argument(
        "files", nargs="+", help="CSV (header: text,label[,labeller,labelled_at,item_id,note]) or JSONL"
    )
    imp.add_argument("--labeller", help="who labelled rows that do not say")
    add_settings_flags(imp, "labels")
    stats = labels_sub.add_parser("stats", help="label events by label, labeller and age")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    add_settings_flags(stats, "labels")
    consume = labels_sub.add_parser("consume", help="store label events from the labels topic (--kafka)")
    add_settings_flags(consume, "labels-consume")
    labels.set_defaults(func=cmd_labels)


def cmd_labels(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    from finsent.app import labels

    if args.labels_command == "import":
        stored, errors = labels.import_files(settings, [Path(p) for p in args.files], args.labeller)
        for line in errors[:50]:
            print(f"rejected: {line}", file=sys.stderr)
        if len(errors) > 50:
            print(f"... and {len(errors) - 50} more rejected rows", file=sys.stderr)
        print(f"stored {stored} label events; rejected {len(errors)}")
        return 1 if errors else 0
    if args.labels_command == "stats":
        report = labels.label_stats(settings)
        if args.json:
            print(json.dumps(report))
            return 0
        for key, value in report.items():
            print(f"{key}: {value}")
        return 0
    if settings.kafka is None:
        print("finsent labels consume needs --kafka HOST:PORT (or FINSENT_KAFKA)", file=sys.stderr)
        return 2
    from finsent.app import wiring

    stop = threading.Event()
    wiring.install_signal_handlers(stop)
    return labels.consume(settings, stop)
