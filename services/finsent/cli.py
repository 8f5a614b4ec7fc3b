"""`finsent`: the command line. Every `run` flag is a field of `Settings` (also `FINSENT_<NAME>`)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from finsent import __version__
from finsent.contracts.news import DEFAULT_MAX_LENGTH
from finsent.settings import SECRETS, Settings, command_fields
from finsent.training.config import TrainConfig

_TRAIN = TrainConfig()  # the defaults of `finsent train`


def _scalar_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        return _scalar_type(args[0])
    if typing.get_origin(annotation) is typing.Annotated:
        return _scalar_type(args[0])
    return annotation


def add_settings_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of the settings `command` uses, one argument group per concern."""
    for title, names in command_fields(command).items():
        secrets = [n for n in names if n in SECRETS]
        description = None
        if secrets:
            description = "secrets, from the environment or a file only (never a flag): " + ", ".join(
                f"FINSENT_{n.upper()}[_FILE]" for n in secrets
            )
        group = parser.add_argument_group(
            f"{title} (each also FINSENT_<NAME> in the environment)", description
        )
        for name in names:
            if name not in SECRETS:
                _add_flag(group, name)


def _add_flag(group: argparse._ArgumentGroup, name: str) -> None:
    field = Settings.model_fields[name]
    flag = "--" + name.replace("_", "-")
    help_text = f"{field.description} [env FINSENT_{name.upper()}; default {field.default}]"
    if _scalar_type(field.annotation) is bool:
        group.add_argument(
            flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
        )
    else:
        metavar = "HOST:PORT" if name == "kafka" else name.upper()
        group.add_argument(flag, dest=name, default=None, metavar=metavar, help=help_text)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    return Settings(**overrides)


def _setup_logging(level: str) -> None:
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
    from finsent.observability import log_throttle

    log_throttle.install()


def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    _setup_logging(settings.log_level)
    from finsent.app import embedded, scorer, wiring

    stop = threading.Event()
    wiring.install_signal_handlers(stop)
    if settings.embedded:
        print(embedded.run_embedded(settings, stop).render())
        return 0
    return scorer.run_kafka(settings, stop)


def cmd_aggregate(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    _setup_logging(settings.log_level)
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


def _load_training_data(args: argparse.Namespace):
    """(examples, load report, eval set or None) from --data (sentiment) and --event-data (event
    type) files, one example per text; exits 2 with a message when there is neither."""
    from finsent.training.data import Example, LoadReport, load, merge_heads

    if not args.data and not args.event_data:
        raise SystemExit("finsent: give --data (sentiment) and/or --event-data (event type) files")
    report = LoadReport()
    examples: list[Example] = []
    if args.data:
        examples, report = load([Path(p) for p in args.data])
    if args.event_data:
        events, event_report = load([Path(p) for p in args.event_data], head="event")
        examples = merge_heads(examples, events)
        report.files.update(event_report.files)
        for key in ("rows", "duplicates_dropped", "conflicts_dropped", "conflicts_resolved"):
            setattr(report, key, getattr(report, key) + getattr(event_report, key))
    eval_set = None
    if args.eval or args.event_eval:
        sentiment_eval = load([Path(p) for p in args.eval])[0] if args.eval else []
        event_eval = load([Path(p) for p in args.event_eval], head="event")[0] if args.event_eval else []
        eval_set = merge_heads(sentiment_eval, event_eval)
    return examples, report, eval_set


def _best_line(metadata: dict) -> str:
    m = metadata["metrics"]
    line = f"accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f} on {m['n']} held-out examples"
    event = metadata.get("event_metrics")
    if event:
        line += f"; event types: macro-F1 {event['macro_f1']:.4f} on {event['n']}"
    return line


def cmd_train(args: argparse.Namespace) -> int:
    _setup_logging("INFO")
    from finsent.training.train import train

    examples, report, eval_set = _load_training_data(args)
    print(
        f"{len(examples)} unique examples from {report.rows} rows "
        f"({report.duplicates_dropped} duplicates, {report.conflicts_resolved} label conflicts resolved, "
        f"{report.conflicts_dropped} dropped)",
        flush=True,
    )
    cfg = train_config(args)
    metadata = train(examples, Path(args.out), cfg, eval_set=eval_set, report=report)
    print(
        f"best epoch {metadata['best_epoch']}: {_best_line(metadata)}; {metadata['duration_s']}s; "
        f"written to {args.out}"
    )
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    _setup_logging("INFO")
    from dataclasses import replace

    from finsent.training.data import load_texts
    from finsent.training.distill import distill

    labelled, report, eval_set = _load_training_data(args)
    unlabelled: list[str] = []
    if args.unlabelled:
        unlabelled, _ = load_texts([Path(p) for p in args.unlabelled])
    cfg = replace(train_config(args), distill_temperature=args.temperature, distill_alpha=args.alpha)
    metadata = distill(
        Path(args.teacher), labelled, unlabelled, Path(args.out), cfg, eval_set=eval_set, report=report
    )
    d = metadata["distillation"]
    print(
        f"student: best epoch {metadata['best_epoch']}: {_best_line(metadata)}; trained on "
        f"{metadata['train_size']} texts ({d['unlabelled']} unlabelled) at temperature "
        f"{d['temperature']}, alpha {d['alpha']}; written to {args.out}"
    )
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    """A held-out split free of reposts, written as two files."""
    from finsent.training.data import DataError, load, repost_free_split, write_jsonl

    try:
        examples, report = load([Path(p) for p in args.data], head=args.head)
    except DataError as exc:
        print(f"finsent split: {exc}", file=sys.stderr)
        return 2
    train_part, test_part = repost_free_split(examples, args.test_fraction, args.seed, args.head)
    write_jsonl(train_part, Path(args.train_out), head=args.head)
    write_jsonl(test_part, Path(args.test_out), head=args.head)
    print(
        f"{len(examples)} unique texts from {report.rows} rows: {len(train_part)} to {args.train_out}, "
        f"{len(test_part)} to {args.test_out} (texts equal without links, case and spacing kept on one side)"
    )
    return 0


def cmd_build_model(args: argparse.Namespace) -> int:
    """The shipped model from the labelled data: teacher, student, export, measurements, card."""
    _setup_logging("INFO")
    from dataclasses import replace

    from finsent.training.build import STEPS, BuildPlan, build

    steps = tuple(args.steps.split(",")) if args.steps else STEPS
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        print(
            f"finsent build-model: unknown step(s) {', '.join(unknown)}; steps: {', '.join(STEPS)}",
            file=sys.stderr,
        )
        return 2
    data_dir = Path(args.data_dir)
    if not data_dir.is_dir():
        print(f"finsent build-model: --data-dir {data_dir}: no such folder", file=sys.stderr)
        return 2
    plan = BuildPlan(data_dir, Path(args.out))
    if args.news_weight is not None:
        if args.news_weight <= 0:
            print("finsent build-model: --news-weight must be positive", file=sys.stderr)
            return 2
        plan.news_weight = args.news_weight
    plan.teacher = replace(plan.teacher, epochs=args.teacher_epochs, seed=args.seed)
    plan.student = replace(plan.student, epochs=args.student_epochs, seed=args.seed)
    try:
        times = build(plan, steps)
    except (FileNotFoundError, ValueError) as exc:
        print(f"finsent build-model: {exc}", file=sys.stderr)
        return 2
    if args.ship:
        from finsent.shipped import SHIPPED_MODEL
        from finsent.training.build import ship

        print(f"shipped to {ship(plan, SHIPPED_MODEL)}")
    total = sum(v for k, v in times.items() if k in STEPS)
    print(f"build-model: done in {total / 60:.1f} min of steps run here; card: {plan.path('MODEL_CARD.md')}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    _setup_logging("WARNING")
    from finsent.training.data import DataError
    from finsent.training.evaluate import NoEventHead, evaluate

    try:
        report = evaluate(
            Path(args.model), [Path(p) for p in args.data], max_length=args.max_length, head=args.head
        )
    except (NoEventHead, DataError) as exc:
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
    _setup_logging("WARNING")
    if args.format == "tensorrt":
        from finsent.training.tensorrt import build_engine

        manifest = build_engine(Path(args.model), Path(args.repo), args.name, max_length=args.max_length)
    else:
        from finsent.training.export import export

        manifest = export(
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


def cmd_produce(args: argparse.Namespace) -> int:
    """Send a JSONL file (default: the bundled sample feed) to the news topic, one record per line."""
    from finsent.app.wiring import bundled_feed, kafka_connection
    from finsent.kafka.client import ensure_topics, new_producer

    settings = settings_from_args(args)
    if settings.kafka is None:
        print("finsent produce needs --kafka HOST:PORT (or FINSENT_KAFKA)", file=sys.stderr)
        return 2
    kafka = kafka_connection(settings)
    if settings.create_topics:
        ensure_topics(kafka, [settings.news_topic], settings.partitions)
    producer = new_producer(kafka, "finsent-produce")
    path = Path(args.file) if args.file else bundled_feed()
    n = 0
    for line in path.read_bytes().splitlines():
        if line.strip():
            producer.send(settings.news_topic, value=line)
            n += 1
    producer.flush()
    producer.close()
    print(f"sent {n} records from {path} to {settings.news_topic}")
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    _setup_logging(settings.log_level)
    from dataclasses import replace

    from finsent.app import wiring
    from finsent.retrain.run import retrain

    stop = threading.Event()
    wiring.install_signal_handlers(stop)  # SIGTERM: the run is abandoned cleanly, nothing promoted
    cfg = replace(settings.retrain_config(), progress=sys.stderr.isatty())
    result = retrain(cfg, trigger="manual", should_stop=stop.is_set)
    print(f"run {result.run_id}: {result.outcome}: {result.reason}")
    if result.report is not None:
        print(f"report: {result.report.with_suffix('.md')} (and {result.report.name})")
    return 0 if result.outcome in ("promoted", "rejected", "skipped") else 1


def cmd_rollback(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    _setup_logging(settings.log_level)
    from finsent.retrain.promote import rollback
    from finsent.retrain.state import StatePaths, file_lock

    # Under the run lock: a rollback and a promotion never race for the next version number.
    with file_lock(StatePaths(settings.retrain_dir).run_lock, "the retraining run lock"):
        manifest = rollback(settings.model_repo, settings.model_name, args.to)
    print(
        f"{settings.model_name}: version {manifest.version} now serves the weights of version "
        f"{manifest.model_dump()['rollback_of']}"
    )
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    _setup_logging(settings.log_level)
    from finsent.app import wiring
    from finsent.app.scheduler import run_scheduler

    stop = threading.Event()
    wiring.install_signal_handlers(stop)
    return run_scheduler(settings, stop)


def cmd_labels(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    _setup_logging(settings.log_level)
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


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The flags `train` and `distill` share (their defaults: training/config.py)."""
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="finsent",
        description="FinSent: streaming financial-sentiment monitoring. "
        "`finsent run` with no --kafka replays the bundled sample feed in-process.",
    )
    parser.add_argument("--version", action="version", version=f"finsent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="score the news stream (embedded sample feed, or --kafka HOST:PORT)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_settings_flags(run, "run")
    run.set_defaults(func=cmd_run)

    aggregate = sub.add_parser(
        "aggregate",
        help="per-topic windows, spike alerts and metrics from the scored stream (--kafka HOST:PORT)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_settings_flags(aggregate, "aggregate")
    aggregate.set_defaults(func=cmd_aggregate)

    produce = sub.add_parser("produce", help="send a JSONL file (default: the sample feed) to the news topic")
    produce.add_argument("--file", help="JSONL file; default: the bundled sample feed")
    add_settings_flags(produce, "produce")
    produce.set_defaults(func=cmd_produce)

    train = sub.add_parser(
        "train", help="fine-tune the sentiment model", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add_training_flags(train)
    train.set_defaults(func=cmd_train)

    distill = sub.add_parser(
        "distill",
        help="train a student on a teacher's soft labels (and the hard labels where there are any)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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

    build_model = sub.add_parser(
        "build-model",
        help="rebuild the shipped model from labelled data: teacher, student, export, card (resumable)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    build_model.add_argument(
        "--data-dir", default="../shared/data", help="the labelled data (see its README for licences)"
    )
    build_model.add_argument("--out", required=True, help="work folder; run again to resume")
    build_model.add_argument(
        "--steps", help="comma-separated subset of splits,teacher,student,export,measure,card (default: all)"
    )
    build_model.add_argument("--teacher-epochs", type=int, default=2)
    build_model.add_argument("--student-epochs", type=int, default=3)
    build_model.add_argument("--seed", type=int, default=42)
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

    split = sub.add_parser(
        "split",
        help="split a labelled file into train and held-out files, reposts kept on one side",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    split.add_argument("--data", action="append", required=True, help="CSV or JSONL with text,label")
    split.add_argument("--head", choices=["sentiment", "event"], default="event", help="what the labels are")
    split.add_argument("--test-fraction", type=float, default=0.15)
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--train-out", required=True, help="JSONL file for the training side")
    split.add_argument("--test-out", required=True, help="JSONL file for the held-out side")
    split.set_defaults(func=cmd_split)

    retrain = sub.add_parser(
        "retrain",
        help="one retraining run: labels + data -> train -> compare with the serving model -> promote or not",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_settings_flags(retrain, "retrain")
    retrain.set_defaults(func=cmd_retrain)

    rollback = sub.add_parser(
        "rollback",
        help="serve an earlier model version again (as a new, higher version)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_settings_flags(scheduler, "scheduler")
    scheduler.set_defaults(func=cmd_scheduler)

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

    export = sub.add_parser(
        "export",
        help="export a trained folder as the next model_repo version",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
        from finsent.kafka.security import KafkaSecurityError
        from finsent.training.data import DataError

        if isinstance(exc, KafkaSecurityError):  # retrying cannot help: say what to fix
            print(f"finsent: Kafka security: {exc}", file=sys.stderr)
            return 2

        logging.getLogger("finsent").debug("failed", exc_info=True)
        from finsent.retrain.promote import RollbackError
        from finsent.retrain.state import LockBusy
        from finsent.training.bases import BaseError

        kinds = {
            DataError: "data error",
            BaseError: "base model",
            RollbackError: "rollback",
            LockBusy: "busy",
        }
        kind = next((k for t, k in kinds.items() if isinstance(exc, t)), type(exc).__name__)
        print(f"finsent: {kind}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
