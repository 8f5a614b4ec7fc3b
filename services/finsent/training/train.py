"""Fine-tune a BERT for 3-class financial sentiment (torch + transformers), with an optional
event-type head trained on the same encoder (examples labelled for it; see training/data.py)."""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from finsent.contracts.event_type import EVENT_TYPES
from finsent.contracts.news import LABELS
from finsent.training.bases import resolve_base
from finsent.training.checkpoint import RESUME_FILE, RunPosition, fingerprint, load_state, save_state
from finsent.training.config import TrainConfig
from finsent.training.data import (
    UNLABELLED,
    Example,
    LoadReport,
    repost_free_split,
    stratified_split,
    write_jsonl,
)
from finsent.training.precision import autocast, resolve_precision
from finsent.training.scoring_metrics import classification_report

log = logging.getLogger(__name__)

LABELS_FILE = "labels.json"
METADATA_FILE = "finsent_training.json"
EVAL_SPLIT_FILE = "eval_split.jsonl"
EVENT_EVAL_SPLIT_FILE = "eval_split_event.jsonl"


class TrainingCancelled(RuntimeError):
    """`should_stop` asked training to stop (a retraining run being abandoned); nothing is written."""


StopCheck = Callable[[], bool]


def _batches(examples: list[Example], size: int, rng: random.Random, tokenizer: Any, max_length: int):
    """Length-bucketed batches: similar lengths together, so padding stays small; order shuffled."""
    lengths = [
        len(t)
        for t in tokenizer([e.text for e in examples], truncation=True, max_length=max_length)["input_ids"]
    ]
    order = sorted(range(len(examples)), key=lambda i: (lengths[i], rng.random()))
    groups = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(groups)
    return groups


def _encode(tokenizer: Any, texts: list[str], max_length: int):
    return tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")


def distillation_loss(
    logits: Any,
    labels: Any,
    soft: Any,
    sample_weight: Any,
    class_weight: Any,
    temperature: float,
    alpha: float,
) -> Any:
    """Hinton et al.'s knowledge distillation, per batch: alpha * the class-weighted cross-entropy on
    the hard label (examples without one contribute none) + (1 - alpha) * T² * KL(teacher's softened
    distribution || student's), each example at its own weight. T² keeps the soft term's gradients
    on the scale of the hard term's whatever the temperature."""
    import torch.nn.functional as F

    has_label = (labels != UNLABELLED).to(logits.dtype)
    hard = F.cross_entropy(logits, labels.clamp(min=0), weight=class_weight, reduction="none") * has_label
    log_student = F.log_softmax(logits / temperature, dim=-1)
    kl = (soft * (soft.clamp_min(1e-12).log() - log_student)).sum(dim=-1) * temperature**2
    per_example = alpha * hard + (1 - alpha) * kl
    return (per_example * sample_weight).sum() / sample_weight.sum().clamp_min(1e-12)


def weighted_loss(per_example: Any, labels: Any, sample_weight: Any, class_weight: Any) -> Any:
    """The class-weighted mean that CrossEntropyLoss's "mean" reduction gives, with each example's
    own weight on top: at weight 1 everywhere it is exactly that mean, and an example at weight 0
    counts as if it were not in the batch."""
    denominator = (class_weight[labels] * sample_weight).sum().clamp_min(1e-12)
    return (per_example * sample_weight).sum() / denominator


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r}: torch sees no CUDA GPU here (use --device cpu or auto)")
    return name


def parameter_groups(model: Any, lr: float, weight_decay: float, layer_decay: float) -> list[dict]:
    """AdamW groups with layer-wise lr decay (one group, plain AdamW, when layer_decay is 1)."""
    layers = model.config.num_hidden_layers
    groups: dict[float, list[Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if ".embeddings." in f".{name}" or "relative_attention_bias" in name:  # MPNet's shared position bias
            depth = 0
        elif ".encoder.layer." in f".{name}":
            depth = int(name.split(".encoder.layer.")[1].split(".")[0]) + 1
        else:  # pooler and classifier head
            depth = layers + 1
        groups.setdefault(lr * layer_decay ** (layers + 1 - depth), []).append(param)
    return [{"params": ps, "lr": g_lr, "weight_decay": weight_decay} for g_lr, ps in groups.items()]


def predict_heads(
    model: Any,
    tokenizer: Any,
    texts: list[str],
    max_length: int,
    batch_size: int = 64,
    precision: str = "fp32",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(sentiment logits, event-type logits or None for a sentiment-only model), one pass; texts of
    similar length batched together. `precision` "bf16" runs the encoder under bf16 autocast."""
    import torch

    from finsent.training.classifier import event_labels_of

    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    logits = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    events = event_labels_of(model)
    event_logits = np.zeros((len(texts), len(events)), dtype=np.float32) if events else None
    from finsent.observability.progress import progress_bar

    starts = range(0, len(order), batch_size)
    bar = progress_bar(starts, enabled=progress, desc="scoring", unit="batch", leave=False)
    with torch.inference_mode():
        for start in bar:
            idx = order[start : start + batch_size]
            enc = _encode(tokenizer, [texts[i] for i in idx], max_length)
            with autocast(precision, str(device)):
                out = model(
                    input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)
                )
            logits[idx] = out.logits.float().cpu().numpy()
            if event_logits is not None:
                event_logits[idx] = out.event_logits.float().cpu().numpy()
    return logits, event_logits


def predict_torch(
    model: Any, tokenizer: Any, texts: list[str], max_length: int, batch_size: int = 64
) -> np.ndarray:
    """Sentiment logits."""
    return predict_heads(model, tokenizer, texts, max_length, batch_size)[0]


@dataclass
class _Fit:
    """What one fine-tune holds while it runs."""

    model: Any
    tokenizer: Any
    device: str
    class_weight: Any
    optimizer: Any
    scheduler: Any
    event_weight: Any = None  # per-class loss weights of the event head; None without one
    step: int = 0
    precision: str = "fp32"  # "bf16": the encoder's forward and backward under bf16 autocast


def class_weights(
    train_set: list[Example], enabled: bool, head: str = "sentiment"
) -> tuple[np.ndarray, np.ndarray]:
    """(label counts, per-class loss weights). Inverse square-root frequency, normalised to mean 1
    over the classes present: lifts the rare negative class (or IPO, 44 of 17k event texts) without
    overshooting."""
    k = len(LABELS) if head == "sentiment" else len(EVENT_TYPES)
    labels = [e.target(head) for e in train_set if e.target(head) != UNLABELLED]
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    if not enabled or not counts.any():  # no labels for this head: its loss is masked out anyway
        return counts, np.ones(k)
    weights = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return counts, weights / weights[counts > 0].mean()


def choose_max_length(base: Path, texts: list[str], quantile: float = 0.99) -> int:
    """The tokens a text may have: the `quantile` of the texts' tokenised lengths, rounded up to a
    multiple of 8, between 8 and 256. Batches are padded to their longest text anyway; this only
    cuts the rare long outlier that would make its batch slow."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=512)["input_ids"]]
    chosen = int(np.quantile(lengths, quantile)) if lengths else 8
    return max(8, min(256, -(-chosen // 8) * 8))


def total_steps(n_train: int, cfg: TrainConfig) -> int:
    steps = math.ceil(n_train / cfg.batch_size) * cfg.epochs
    return steps if cfg.max_steps is None else min(steps, cfg.max_steps)


def linear_warmup_decay(steps: int, warmup: float):
    """lr multiplier for step s: linear warm-up over the first `warmup` share, then linear decay to 0."""
    warmup_steps = max(1, int(steps * warmup))
    return lambda s: min((s + 1) / warmup_steps, max(0.0, (steps - s) / max(1, steps - warmup_steps)))


def available_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the host's)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _prepare(
    base: Path, cfg: TrainConfig, weights: np.ndarray, steps: int, event_weights: np.ndarray | None
) -> _Fit:
    import torch
    from transformers import AutoTokenizer

    from finsent.training.classifier import new_classifier

    device = resolve_device(cfg.device)
    id2label = {i: str(label) for i, label in enumerate(LABELS)}
    events = list(EVENT_TYPES) if event_weights is not None else None
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if cfg.init_from is not None:  # continue from a trained classifier, its heads included
        from finsent.training.classifier import load_classifier

        model = load_classifier(base, events).to(device)
    else:
        model = new_classifier(base, cfg.pooling, id2label, events).to(device)
    if cfg.train_only == "event":
        # Only the event head learns: the encoder and the sentiment head keep init_from's weights.
        for name, param in model.named_parameters():
            param.requires_grad = name.startswith("event_classifier.")
    class_weight = torch.tensor(weights, dtype=torch.float32, device=device)
    optimizer = torch.optim.AdamW(parameter_groups(model, cfg.lr, cfg.weight_decay, cfg.layer_decay))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(steps, cfg.warmup))
    event_weight = (
        torch.tensor(event_weights, dtype=torch.float32, device=device) if event_weights is not None else None
    )
    precision = resolve_precision(cfg.precision, device)
    return _Fit(
        model, tokenizer, device, class_weight, optimizer, scheduler, event_weight, precision=precision
    )


def _head_loss(
    logits: Any,
    targets: Any,
    soft: Any,
    sample_weight: Any,
    class_weight: Any,
    cfg: TrainConfig,
) -> Any:
    """One head's loss over the batch's examples labelled for it (hard) and, given the teacher's
    soft targets (`soft`), the distillation loss over every example."""
    if soft is not None:
        assert cfg.distill_temperature is not None  # soft targets exist only when distilling
        return distillation_loss(
            logits, targets, soft, sample_weight, class_weight, cfg.distill_temperature, cfg.distill_alpha
        )
    import torch.nn.functional as F

    has_label = (targets != UNLABELLED).to(sample_weight.dtype)
    per_example = F.cross_entropy(
        logits,
        targets.clamp(min=0),
        weight=class_weight,
        label_smoothing=cfg.label_smoothing,
        reduction="none",
    )
    return weighted_loss(per_example, targets.clamp(min=0), sample_weight * has_label, class_weight)


def _batch_loss(fit: _Fit, batch: list[Example], cfg: TrainConfig) -> Any:
    import torch

    enc = _encode(fit.tokenizer, [e.text for e in batch], cfg.max_length)
    sample_weight = torch.tensor([e.weight for e in batch], device=fit.device)
    with autocast(fit.precision, fit.device):
        out = fit.model(
            input_ids=enc["input_ids"].to(fit.device), attention_mask=enc["attention_mask"].to(fit.device)
        )
    distilling = cfg.distill_temperature is not None
    logits = out.logits.float()  # the loss and the softmax in fp32 whatever the encoder ran in

    def soft(values: list[Any]) -> Any:
        return torch.tensor(values, device=fit.device, dtype=torch.float32) if distilling else None

    labels = torch.tensor([e.label for e in batch], device=fit.device)
    loss = _head_loss(logits, labels, soft([e.soft for e in batch]), sample_weight, fit.class_weight, cfg)
    if fit.event_weight is not None:
        events = torch.tensor([e.event for e in batch], device=fit.device)
        # A teacher without an event head gives no soft event targets: hard labels only there.
        event_soft = soft([e.soft_event for e in batch]) if batch[0].soft_event else None
        loss = loss + cfg.event_loss_weight * _head_loss(
            out.event_logits.float(), events, event_soft, sample_weight, fit.event_weight, cfg
        )
    return loss


@dataclass
class _Checkpointer:
    """Writes the resume file every `every_s` seconds of training (never when `path` is None)."""

    path: Path | None
    every_s: float
    print_: str
    last: float = field(default_factory=time.monotonic)

    def maybe_save(self, fit: _Fit, position: RunPosition) -> None:
        if self.path is None or time.monotonic() - self.last < self.every_s:
            return
        save_state(self.path, fit, position, self.print_)
        self.last = time.monotonic()
        log.debug(
            "checkpoint: epoch %d batch %d (step %d) -> %s",
            position.epoch,
            position.batch,
            fit.step,
            self.path,
        )


def _train_epoch(
    fit: _Fit,
    train_set: list[Example],
    cfg: TrainConfig,
    rng: random.Random,
    position: RunPosition,
    checkpointer: _Checkpointer,
    should_stop: StopCheck | None = None,
) -> float:
    """One pass over the training set (or up to cfg.max_steps), going on after the
    `position.batch` batches already done when resuming; returns the mean loss."""
    import torch

    from finsent.observability.progress import progress_bar

    epoch = position.epoch
    fit.model.train()
    position.epoch_rng = rng.getstate()
    groups = _batches(train_set, cfg.batch_size, rng, fit.tokenizer, cfg.max_length)
    bar = progress_bar(
        enabled=cfg.progress,
        total=len(groups),
        initial=position.batch,
        desc=f"epoch {epoch}/{cfg.epochs}",
        unit="batch",
        leave=False,
    )
    for idx in groups[position.batch :]:
        if should_stop is not None and should_stop():
            bar.close()
            raise TrainingCancelled(f"stopped in epoch {epoch} after {fit.step} steps")
        loss = _batch_loss(fit, [train_set[i] for i in idx], cfg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(fit.model.parameters(), 1.0)
        fit.optimizer.step()
        fit.scheduler.step()
        fit.optimizer.zero_grad(set_to_none=True)
        position.loss_sum += loss.item()
        position.batch += 1
        fit.step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{position.loss_sum / position.batch:.4f}")
        if _out_of_steps(fit, cfg):
            break
        checkpointer.maybe_save(fit, position)
    bar.close()
    return position.loss_sum / max(1, position.batch)


def _out_of_steps(fit: _Fit, cfg: TrainConfig) -> bool:
    return cfg.max_steps is not None and fit.step >= cfg.max_steps


def _report_epoch(epoch: int, loss: float, metrics: dict[str, Any], progress: bool) -> dict[str, Any]:
    # One line an epoch: printed beside the progress bar, or logged when there is none (a job's log).
    line = f"loss {loss:.4f}  accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}"
    row = {"epoch": epoch, "loss": loss, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}
    event = metrics.get("event")
    if event is not None:
        line += f"  event macro-F1 {event['macro_f1']:.4f}"
        row["event_macro_f1"] = event["macro_f1"]
    log.log(logging.DEBUG if progress else logging.INFO, "epoch %d: %s", epoch, line)
    if progress:
        print(f"epoch {epoch}: {line}", flush=True)
    return row


def _evaluate_heads(fit: _Fit, eval_set: list[Example], cfg: TrainConfig) -> dict[str, Any]:
    """Sentiment metrics on the examples labelled for sentiment, with the event head's under
    "event" when the model has one; "selection" is what the best epoch is chosen by: the sentiment
    macro-F1, or the mean of both heads' macro-F1."""
    texts = [e.text for e in eval_set]
    logits, event_logits = predict_heads(
        fit.model, fit.tokenizer, texts, cfg.max_length, precision=fit.precision
    )
    sentiment = [i for i, e in enumerate(eval_set) if e.label != UNLABELLED]
    metrics = classification_report(
        np.array([eval_set[i].label for i in sentiment], dtype=np.int64),
        logits[sentiment].argmax(axis=1) if sentiment else np.array([], dtype=np.int64),
    )
    metrics["selection"] = metrics["macro_f1"]
    if event_logits is not None:
        labelled = [i for i, e in enumerate(eval_set) if e.event != UNLABELLED]
        if labelled:
            event = classification_report(
                np.array([eval_set[i].event for i in labelled]),
                event_logits[labelled].argmax(axis=1),
                labels=EVENT_TYPES,
            )
            metrics["event"] = event
            metrics["selection"] = (
                (metrics["macro_f1"] + event["macro_f1"]) / 2 if sentiment else event["macro_f1"]
            )
    return metrics


def _fit_epochs(
    fit: _Fit,
    train_set: list[Example],
    eval_set: list[Example],
    cfg: TrainConfig,
    staging: Path,
    checkpointer: _Checkpointer,
    position: RunPosition,
    should_stop: StopCheck | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train epoch by epoch from `position` (epoch 1, batch 0 for a new run), keep the best
    checkpoint (macro-F1 on eval_set; both heads' mean with an event head) in `staging`, stop early
    after cfg.patience epochs without a gain; returns (best metrics with its epoch, history)."""
    rng = random.Random(cfg.seed)
    if position.epoch_rng is not None:  # resuming: draw the interrupted epoch's batches again
        rng.setstate(position.epoch_rng)
    while position.epoch <= cfg.epochs:
        loss = _train_epoch(fit, train_set, cfg, rng, position, checkpointer, should_stop)
        metrics = _evaluate_heads(fit, eval_set, cfg)
        position.history.append(_report_epoch(position.epoch, loss, metrics, cfg.progress))
        stop = _out_of_steps(fit, cfg)
        if position.best is None or metrics["selection"] > position.best["selection"]:
            position.best = {**metrics, "epoch": position.epoch}
            fit.model.save_pretrained(str(staging), safe_serialization=True)
            fit.tokenizer.save_pretrained(str(staging))
            position.stale = 0
        else:
            position.stale += 1
            if position.stale >= cfg.patience:
                log.info("early stop: no macro-F1 gain for %d epochs", position.stale)
                stop = True
        position.epoch, position.batch, position.loss_sum = position.epoch + 1, 0, 0.0
        if stop:
            break
        if checkpointer.path is not None:  # an epoch's end is a natural point to be resumable from
            position.epoch_rng = rng.getstate()
            save_state(checkpointer.path, fit, position, checkpointer.print_)
            checkpointer.last = time.monotonic()
    assert position.best is not None  # at least one epoch ran: cfg.epochs >= 1
    return position.best, position.history


def _split(train_set: list[Example], cfg: TrainConfig) -> tuple[list[Example], list[Example]]:
    """The evaluation split: stratified over the sentiment-labelled examples, and over the examples
    labelled only for the event head with reposts kept on one side; unlabelled examples
    (distillation) all train."""
    sentiment = [e for e in train_set if e.label != UNLABELLED]
    event_only = [e for e in train_set if e.label == UNLABELLED and e.event != UNLABELLED]
    fit_part, eval_set = stratified_split(sentiment, cfg.eval_fraction, cfg.seed) if sentiment else ([], [])
    if event_only:
        event_fit, event_eval = repost_free_split(event_only, cfg.eval_fraction, cfg.seed)
        fit_part, eval_set = fit_part + event_fit, eval_set + event_eval
    rest = [e for e in train_set if e.label == UNLABELLED and e.event == UNLABELLED]
    return fit_part + rest, eval_set


def train(
    train_set: list[Example],
    out: Path,
    cfg: TrainConfig,
    *,
    eval_set: list[Example] | None = None,
    report: LoadReport | None = None,
    should_stop: StopCheck | None = None,
) -> dict[str, Any]:
    """Fine-tune and write the best checkpoint (by macro-F1 on the evaluation set) to `out`: the model,
    its tokenizer, the labels, the evaluation split and a metadata file. `out` appears whole or not
    at all (written beside it, then renamed). `should_stop`, checked before every batch, abandons
    the run (TrainingCancelled) with nothing written."""
    import torch

    torch.set_num_threads(cfg.threads or available_cores())
    _seed(cfg.seed)
    if eval_set is None:
        train_set, eval_set = _split(train_set, cfg)
    if not train_set or not eval_set:
        raise ValueError("need at least one training and one evaluation example")
    if cfg.distill_temperature is not None and any(e.soft is None for e in train_set):
        raise ValueError("distillation needs the teacher's soft targets on every training example")
    if cfg.epochs < 1:
        raise ValueError("epochs must be at least 1")
    if cfg.train_only not in (None, "event"):
        raise ValueError(f"train_only {cfg.train_only!r}: only 'event' (the event-type head) is supported")
    if cfg.train_only == "event" and (
        cfg.init_from is None or not any(e.event != UNLABELLED for e in train_set)
    ):
        raise ValueError("training only the event head needs init_from (a trained model) and event-type data")

    base = Path(cfg.init_from) if cfg.init_from is not None else resolve_base(cfg.base)
    if cfg.init_from is not None and not (base / "config.json").is_file():
        raise ValueError(f"init_from {base}: not a folder written by `finsent train` (no config.json)")
    if cfg.max_length <= 0:
        cfg = replace(cfg, max_length=choose_max_length(base, [e.text for e in train_set]))
        log.info("max length %d tokens (99th percentile of the training texts)", cfg.max_length)
    counts, weights = class_weights(train_set, cfg.class_weights)
    # An event head when any example is labelled for it, or a teacher's event head passes it on.
    with_events = any(e.event != UNLABELLED or e.soft_event is not None for e in train_set)
    event_counts, event_weights = class_weights(train_set, cfg.class_weights, "event")
    fit = _prepare(
        base, cfg, weights, total_steps(len(train_set), cfg), event_weights if with_events else None
    )
    started = time.time()
    staging = out.with_name(out.name + ".partial")
    resume_file = staging / RESUME_FILE
    print_ = fingerprint(
        {**asdict(cfg), "eval": len(eval_set)},
        [e.text for e in train_set],
        [(e.label, e.event, e.weight, e.soft, e.soft_event) for e in train_set],
    )
    position = RunPosition()
    resumed_at = None
    if cfg.resume and resume_file.is_file():
        position = load_state(resume_file, fit, print_)
        resumed_at = fit.step
        log.info("resuming %s at epoch %d, batch %d (step %d)", out, position.epoch, position.batch, fit.step)
        if cfg.progress:
            print(f"Resuming at epoch {position.epoch}, batch {position.batch} (step {fit.step})", flush=True)
    else:
        if cfg.resume:
            log.info("nothing to resume in %s: starting a new run", staging)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    checkpointer = _Checkpointer(
        resume_file if cfg.checkpoint_every_s > 0 else None, cfg.checkpoint_every_s, print_
    )
    try:
        best, history = _fit_epochs(
            fit, train_set, eval_set, cfg, staging, checkpointer, position, should_stop
        )
    except TrainingCancelled:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    resume_file.unlink(missing_ok=True)
    metadata = {
        "base": str(base),
        "labels": [str(label) for label in LABELS],
        "train_size": len(train_set),
        "eval_size": len(eval_set),
        "train_label_counts": counts.astype(int).tolist(),
        "class_weights": [float(w) for w in weights],
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "data": report.as_dict() if report else {},
        "best_epoch": best["epoch"],
        "metrics": {k: v for k, v in best.items() if k not in ("epoch", "event", "selection")},
        "history": history,
        "steps": fit.step,
        "duration_s": round(time.time() - started, 1),
        "torch_threads": torch.get_num_threads(),
        "device": fit.device,
        "precision": fit.precision,
        "resumed_at_step": resumed_at,
    }
    if with_events:
        metadata["event_labels"] = list(EVENT_TYPES)
        metadata["event_train_label_counts"] = event_counts.astype(int).tolist()
        metadata["event_metrics"] = best.get("event", {})
    if cfg.distill_temperature is not None:
        metadata["distillation"] = {
            "teacher": cfg.extra.get("teacher"),
            "temperature": cfg.distill_temperature,
            "alpha": cfg.distill_alpha,
            "unlabelled": sum(1 for e in train_set if e.label == UNLABELLED),
        }
    (staging / LABELS_FILE).write_text(json.dumps([str(label) for label in LABELS]))
    write_jsonl(eval_set, staging / EVAL_SPLIT_FILE)
    if with_events:
        write_jsonl(eval_set, staging / EVENT_EVAL_SPLIT_FILE, head="event")
    (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return metadata
