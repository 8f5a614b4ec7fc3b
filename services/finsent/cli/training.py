"""The training commands: `train` (fine-tune), `distill` (a student from a teacher) and `split` (a
held-out split free of reposts). Their defaults are training/config.py's; the work is app/training.py's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from finsent.app.training import TrainConfig, TrainingData
from finsent.cli._common import HelpFormatter, setup_logging

__all__ = ["register", "train_config"]

_TRAIN = TrainConfig()  # the defaults of `finsent train`


def register(sub: Any) -> None:
    train = sub.add_parser("train", help="fine-tune the sentiment model", formatter_class=HelpFormatter)
    add_training_flags(train)
    train.set_defaults(func=cmd_train)

    distill = sub.add_parser(
        "distill",
        help="train a student on a teacher's soft labels (and the hard labels where there are any)",
        formatter_class=HelpFormatter,
    )
    distill.add_argument("--teacher", required=True, help="a folder written by `finsent train` (the teacher)")
    distill.add_argument(
        "--unlabelled",
        action="append",
        help="CSV or JSONL with a text column/key: soft labels only (repeatable)",
    )
    distill.add_argument("--temperature", type=float, default=2.0, help="softens both distributions")
    distill.add_argument(
        "--alpha", type=float, default=0.5, help="weight of the hard-label loss; 1 - alpha on the soft one"
    )
    add_training_flags(distill)
    distill.set_defaults(func=cmd_distill)

    split = sub.add_parser(
        "split",
        help="split a labelled file into train and held-out files, reposts kept on one side",
        formatter_class=HelpFormatter,
    )
    split.add_argument("--data", action="append", required=True, help="CSV or JSONL with text,label")
    split.add_argument("--head", choices=["sentiment", "event"], default="event", help="what the labels are")
    split.add_argument("--test-fraction", type=float, default=0.15)
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--train-out", required=True, help="JSONL file for the training side")
    split.add_argument("--test-out", required=True, help="JSONL file for the held-out side")
    split.set_defaults(func=cmd_split)


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The flags `train` and `distill` share (their defaults: training/config.py)."""
    _data_flags(parser)
    _fit_flags(parser)
    _model_flags(parser)
    _run_flags(parser)


def _data_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", action="append", help="CSV or JSONL with text,label: sentiment labels (repeatable)"
    )
    parser.add_argument(
        "--event-data",
        action="append",
        help="CSV or JSONL with text,label: event-type labels (contracts/event_type.py); adds the "
        "event-type head (repeatable)",
    )
    parser.add_argument("--out", required=True, help="folder to write the trained model to")
    parser.add_argument(
        "--eval", action="append", help="evaluation file(s); default: a stratified split of --data"
    )
    parser.add_argument(
        "--event-eval",
        action="append",
        help="event-type evaluation file(s); default: a repost-free stratified split of --event-data",
    )


def _fit_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        default="minilm",
        help="encoder to fine-tune: minilm (all-MiniLM-L6-v2, 22M), mpnet (all-mpnet-base-v2, 110M; "
        "deploy/install-mpnet.sh), or a Hugging Face model folder",
    )
    parser.add_argument("--epochs", type=int, default=_TRAIN.epochs)
    parser.add_argument("--batch-size", type=int, default=_TRAIN.batch_size)
    parser.add_argument("--lr", type=float, default=_TRAIN.lr)
    parser.add_argument(
        "--max-length",
        type=_max_length,
        default=_TRAIN.max_length,
        help="tokens per text; auto: the 99th percentile of the training texts' lengths (8 to 256)",
    )
    parser.add_argument("--seed", type=int, default=_TRAIN.seed)
    parser.add_argument(
        "--patience", type=int, default=_TRAIN.patience, help="epochs without macro-F1 gain before stopping"
    )
    parser.add_argument("--eval-fraction", type=float, default=_TRAIN.eval_fraction)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (smoke runs)")


def _model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pooling",
        default=_TRAIN.pooling,
        choices=["mean", "cls"],
        help="sentence vector for the head: mean of token states, or the [CLS] pooler",
    )
    parser.add_argument(
        "--no-class-weights", action="store_true", help="do not weight the loss by class frequency"
    )
    parser.add_argument(
        "--label-smoothing", type=float, default=_TRAIN.label_smoothing, help="cross-entropy label smoothing"
    )
    parser.add_argument(
        "--layer-decay",
        type=float,
        default=_TRAIN.layer_decay,
        help="layer-wise lr decay: each layer below the head trains at this factor of the one above (1: off)",
    )


def _run_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--init-from",
        help="continue from a folder written by `finsent train` (its encoder and heads) instead of --base",
    )
    parser.add_argument(
        "--train-only",
        choices=["event"],
        help="event: train only the event-type head, on --init-from's frozen encoder (its sentiment "
        "scores stay exactly as they were)",
    )
    parser.add_argument(
        "--event-loss-weight",
        type=float,
        default=_TRAIN.event_loss_weight,
        help="weight of the event-type head's loss beside the sentiment head's",
    )
    parser.add_argument(
        "--device",
        default=_TRAIN.device,
        help="auto (a CUDA GPU when torch sees one, else CPU), cpu, cuda, cuda:N",
    )
    parser.add_argument(
        "--precision",
        default=_TRAIN.precision,
        choices=["auto", "bf16", "fp32"],
        help="auto: bf16 autocast where the CPU has AVX-512 BF16 or AMX (or the GPU bf16), else fp32",
    )
    parser.add_argument(
        "--threads", type=int, default=_TRAIN.threads, help="torch threads; 0: the cores this process has"
    )
    parser.add_argument(
        "--checkpoint-every",
        type=float,
        default=_TRAIN.checkpoint_every_s,
        help="seconds between resume checkpoints (OUT.partial/resume.pt); 0: none",
    )
    parser.add_argument(
        "--resume", action="store_true", help="go on from OUT.partial/resume.pt if a run left one"
    )


def train_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        base=args.base,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_length=args.max_length,
        seed=args.seed,
        patience=args.patience,
        eval_fraction=args.eval_fraction,
        max_steps=args.max_steps,
        class_weights=not args.no_class_weights,
        pooling=args.pooling,
        label_smoothing=args.label_smoothing,
        layer_decay=args.layer_decay,
        device=args.device,
        init_from=args.init_from,
        train_only=args.train_only,
        event_loss_weight=args.event_loss_weight,
        precision=args.precision,
        threads=args.threads,
        checkpoint_every_s=args.checkpoint_every,
        resume=args.resume,
    )


def _max_length(value: str) -> int:
    """--max-length: a number of tokens, or auto (0: chosen from the training data)."""
    if value == "auto":
        return 0
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: a number of tokens or auto") from None
    if not 8 <= n <= 512:
        raise argparse.ArgumentTypeError(f"{n}: between 8 and 512 tokens")
    return n


def _load_training_data(args: argparse.Namespace) -> TrainingData:
    """--data (sentiment) and --event-data (event type) files, and their eval files (app's DataError,
    told to the user as a data error, when there is neither)."""
    from finsent.app.training import load_training_data

    def paths(values: list[str] | None) -> list[Path]:
        return [Path(v) for v in values or []]

    return load_training_data(
        paths(args.data), paths(args.event_data), paths(args.eval), paths(args.event_eval)
    )


def _best_line(metadata: dict) -> str:
    m = metadata["metrics"]
    line = f"accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f} on {m['n']} held-out examples"
    event = metadata.get("event_metrics")
    if event:
        line += f"; event types: macro-F1 {event['macro_f1']:.4f} on {event['n']}"
    return line


def cmd_train(args: argparse.Namespace) -> int:
    setup_logging("INFO")
    from finsent.app.training import train_model

    data = _load_training_data(args)
    report = data.report
    print(
        f"{len(data.examples)} unique examples from {report.rows} rows "
        f"({report.duplicates_dropped} duplicates, {report.conflicts_resolved} label conflicts resolved, "
        f"{report.conflicts_dropped} dropped)",
        flush=True,
    )
    cfg = train_config(args)
    metadata = train_model(data, Path(args.out), cfg)
    print(
        f"best epoch {metadata['best_epoch']}: {_best_line(metadata)}; {metadata['duration_s']}s; "
        f"written to {args.out}"
    )
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    setup_logging("INFO")
    from dataclasses import replace

    from finsent.app.training import distill_model

    data = _load_training_data(args)
    cfg = replace(train_config(args), distill_temperature=args.temperature, distill_alpha=args.alpha)
    unlabelled = [Path(p) for p in args.unlabelled or []]
    metadata = distill_model(Path(args.teacher), data, unlabelled, Path(args.out), cfg)
    d = metadata["distillation"]
    print(
        f"student: best epoch {metadata['best_epoch']}: {_best_line(metadata)}; trained on "
        f"{metadata['train_size']} texts ({d['unlabelled']} unlabelled) at temperature "
        f"{d['temperature']}, alpha {d['alpha']}; written to {args.out}"
    )
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    """A held-out split free of reposts, written as two files."""
    from finsent.app.training import DataError, split_data

    try:
        r = split_data(
            [Path(p) for p in args.data],
            args.head,
            args.test_fraction,
            args.seed,
            Path(args.train_out),
            Path(args.test_out),
        )
    except DataError as exc:
        print(f"finsent split: {exc}", file=sys.stderr)
        return 2
    print(
        f"{r.texts} unique texts from {r.rows} rows: {r.train} to {args.train_out}, "
        f"{r.test} to {args.test_out} (texts equal without links, case and spacing kept on one side)"
    )
    return 0
