"""The model commands: `build-model` (the shipped model from the labelled data), `evaluate` (a
trained folder or an exported version on labelled data) and `export` (the next model_repo version)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from finsent.cli._common import HelpFormatter, setup_logging
from finsent.contracts.news import DEFAULT_MAX_LENGTH

__all__ = ["register"]


def register(sub: Any) -> None:
    _register_build_model(sub)
    evaluate = sub.add_parser(
        "evaluate", help="measure a trained folder or an exported version on labelled data"
    )
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", action="append", required=True)
    evaluate.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH)
    evaluate.add_argument(
        "--head",
        choices=["sentiment", "event"],
        default="sentiment",
        help="which head to measure; --data is labelled for it",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(func=cmd_evaluate)
    _register_export(sub)


def _register_build_model(sub: Any) -> None:
    build_model = sub.add_parser(
        "build-model",
        help="rebuild the shipped model from labelled data: teacher, student, export, card (resumable)",
        formatter_class=HelpFormatter,
    )
    build_model.add_argument(
        "--data-dir", default="../shared/data", help="the labelled data (see its README for licences)"
    )
    build_model.add_argument("--out", required=True, help="work folder; run again to resume")
    build_model.add_argument(
        "--steps", help="comma-separated subset of splits,teacher,student,export,measure,card (default: all)"
    )
    build_model.add_argument("--teacher-epochs", type=int, help="default: the shipped recipe's")
    build_model.add_argument("--student-epochs", type=int, help="default: the shipped recipe's")
    build_model.add_argument("--seed", type=int, default=42, help="the seed of both models' training")
    build_model.add_argument(
        "--news-weight",
        type=float,
        help="how much a news passage's loss counts against a tweet's, teacher and student "
        "(default: the shipped recipe's)",
    )
    build_model.add_argument(
        "--ship",
        action="store_true",
        help="then copy the model and its card into the package (finsent/shipped/finsent_sentiment)",
    )
    build_model.set_defaults(func=cmd_build_model)


def _register_export(sub: Any) -> None:
    export = sub.add_parser(
        "export",
        help="export a trained folder as the next model_repo version",
        formatter_class=HelpFormatter,
    )
    export.add_argument("--model", required=True, help="a folder written by `finsent train`")
    export.add_argument("--repo", default="model_repo")
    export.add_argument("--name", default="finsent_sentiment")
    export.add_argument(
        "--format",
        default="auto",
        choices=["auto", "onnx", "onnx-int8", "tensorrt"],
        help="auto: int8 if it keeps quality on the evaluation split, else fp32",
    )
    export.add_argument(
        "--eval",
        action="append",
        help="labelled data for the int8 check; default: the training run's evaluation split",
    )
    export.add_argument(
        "--event-eval",
        action="append",
        help="event-type data for the int8 check of the event head; default: the run's event split",
    )
    export.add_argument("--max-length", type=int, default=DEFAULT_MAX_LENGTH)
    export.set_defaults(func=cmd_export)


def cmd_build_model(args: argparse.Namespace) -> int:
    """The shipped model from the labelled data: teacher, student, export, measurements, card."""
    setup_logging("INFO")
    from finsent.app.model import BUILD_STEPS, build_model

    steps = tuple(args.steps.split(",")) if args.steps else BUILD_STEPS
    unknown = [s for s in steps if s not in BUILD_STEPS]
    if unknown:
        print(
            f"finsent build-model: unknown step(s) {', '.join(unknown)}; steps: {', '.join(BUILD_STEPS)}",
            file=sys.stderr,
        )
        return 2
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        print(f"finsent build-model: --data-dir {data_dir}: no such folder", file=sys.stderr)
        return 2
    if args.news_weight is not None and args.news_weight <= 0:
        print("finsent build-model: --news-weight must be positive", file=sys.stderr)
        return 2
    for flag, value in (("--teacher-epochs", args.teacher_epochs), ("--student-epochs", args.student_epochs)):
        if value is not None and value < 1:
            print(f"finsent build-model: {flag} must be at least 1", file=sys.stderr)
            return 2
    try:
        result = build_model(
            data_dir,
            Path(args.out),
            steps,
            teacher_epochs=args.teacher_epochs,
            student_epochs=args.student_epochs,
            seed=args.seed,
            news_weight=args.news_weight,
            ship=args.ship,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"finsent build-model: {exc}", file=sys.stderr)
        return 2
    if result.shipped_to is not None:
        print(f"shipped to {result.shipped_to}")
    print(f"build-model: done in {result.minutes:.1f} min of steps run here; card: {result.card}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    setup_logging("WARNING")
    from finsent.app.model import EvaluationError, evaluate_model

    try:
        report = evaluate_model(
            Path(args.model), [Path(p) for p in args.data], max_length=args.max_length, head=args.head
        )
    except EvaluationError as exc:
        print(f"finsent evaluate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"n={report['n']}  accuracy={report['accuracy']:.4f}  macro-F1={report['macro_f1']:.4f}  "
        f"weighted-F1={report['weighted_f1']:.4f}"
    )
    w = max(10, *(len(label) + 2 for label in report["labels"]))
    print(f"{'class':<{w}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for label, c in report["per_class"].items():
        print(f"{label:<{w}}{c['precision']:>10.4f}{c['recall']:>10.4f}{c['f1']:>10.4f}{c['support']:>10}")
    print("confusion matrix (rows: true, columns: predicted):", report["labels"])
    for label, row in zip(report["labels"], report["confusion_matrix"], strict=True):
        print(f"  {label:<{w}}{row}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    setup_logging("WARNING")
    from finsent.app.model import export_model

    manifest = export_model(
        Path(args.model),
        Path(args.repo),
        args.name,
        fmt=args.format,
        max_length=args.max_length,
        eval_data=[Path(p) for p in args.eval] if args.eval else None,
        event_eval_data=[Path(p) for p in args.event_eval] if args.event_eval else None,
    )
    print(
        json.dumps(
            {k: manifest[k] for k in ("name", "version", "format", "checks") if k in manifest}, indent=2
        )
    )
    return 0
