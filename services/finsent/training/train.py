"""Fine-tune a BERT for 3-class financial sentiment (torch + transformers)."""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finsent.contracts.news import LABELS
from finsent.training.bases import resolve_base
from finsent.training.config import TrainConfig
from finsent.training.data import UNLABELLED, Example, LoadReport, stratified_split, write_jsonl
from finsent.training.scoring_metrics import classification_report

log = logging.getLogger(__name__)

LABELS_FILE = "labels.json"
METADATA_FILE = "finsent_training.json"
EVAL_SPLIT_FILE = "eval_split.jsonl"


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


def predict_torch(
    model: Any, tokenizer: Any, texts: list[str], max_length: int, batch_size: int = 64
) -> np.ndarray:
    import torch

    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    logits = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = _encode(tokenizer, [texts[i] for i in idx], max_length)
            out = model(
                input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)
            ).logits
            logits[idx] = out.float().cpu().numpy()
    return logits


@dataclass
class _Fit:
    """What one fine-tune holds while it runs."""

    model: Any
    tokenizer: Any
    device: str
    loss_fn: Any
    class_weight: Any
    optimizer: Any
    scheduler: Any
    step: int = 0


def class_weights(train_set: list[Example], enabled: bool) -> tuple[np.ndarray, np.ndarray]:
    """(label counts, per-class loss weights). Inverse square-root frequency, normalised to mean 1
    over the classes present: lifts the rare negative class without overshooting."""
    labels = [e.label for e in train_set if e.label != UNLABELLED]
    counts = np.bincount(labels, minlength=len(LABELS)).astype(np.float64)
    if not enabled:
        return counts, np.ones(len(LABELS))
    weights = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return counts, weights / weights[counts > 0].mean()


def total_steps(n_train: int, cfg: TrainConfig) -> int:
    steps = math.ceil(n_train / cfg.batch_size) * cfg.epochs
    return steps if cfg.max_steps is None else min(steps, cfg.max_steps)


def linear_warmup_decay(steps: int, warmup: float):
    """lr multiplier for step s: linear warm-up over the first `warmup` share, then linear decay to 0."""
    warmup_steps = max(1, int(steps * warmup))
    return lambda s: min((s + 1) / warmup_steps, max(0.0, (steps - s) / max(1, steps - warmup_steps)))


def _seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _prepare(base: Path, cfg: TrainConfig, weights: np.ndarray, steps: int) -> _Fit:
    import torch
    from transformers import AutoTokenizer

    from finsent.training.classifier import new_classifier

    device = resolve_device(cfg.device)
    id2label = {i: str(label) for i, label in enumerate(LABELS)}
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if cfg.init_from is not None:  # continue from a trained classifier, its head included
        from finsent.training.classifier import load_classifier

        model = load_classifier(base).to(device)
    else:
        model = new_classifier(base, cfg.pooling, id2label).to(device)
    class_weight = torch.tensor(weights, dtype=torch.float32, device=device)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=class_weight, label_smoothing=cfg.label_smoothing, reduction="none"
    )
    optimizer = torch.optim.AdamW(parameter_groups(model, cfg.lr, cfg.weight_decay, cfg.layer_decay))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(steps, cfg.warmup))
    return _Fit(model, tokenizer, device, loss_fn, class_weight, optimizer, scheduler)


def _train_epoch(
    fit: _Fit,
    train_set: list[Example],
    cfg: TrainConfig,
    rng: random.Random,
    epoch: int,
    should_stop: StopCheck | None = None,
) -> float:
    """One pass over the training set (or up to cfg.max_steps); returns the mean loss."""
    import torch
    from tqdm.auto import tqdm

    fit.model.train()
    groups = _batches(train_set, cfg.batch_size, rng, fit.tokenizer, cfg.max_length)
    bar = tqdm(
        groups, desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", disable=not cfg.progress, leave=False
    )
    running, n = 0.0, 0
    for n, idx in enumerate(bar, start=1):
        if should_stop is not None and should_stop():
            bar.close()
            raise TrainingCancelled(f"stopped in epoch {epoch} after {fit.step} steps")
        enc = _encode(fit.tokenizer, [train_set[i].text for i in idx], cfg.max_length)
        labels = torch.tensor([train_set[i].label for i in idx], device=fit.device)
        sample_weight = torch.tensor([train_set[i].weight for i in idx], device=fit.device)
        logits = fit.model(
            input_ids=enc["input_ids"].to(fit.device), attention_mask=enc["attention_mask"].to(fit.device)
        ).logits
        if cfg.distill_temperature is not None:
            soft = torch.tensor([train_set[i].soft for i in idx], device=fit.device, dtype=logits.dtype)
            loss = distillation_loss(
                logits,
                labels,
                soft,
                sample_weight,
                fit.class_weight,
                cfg.distill_temperature,
                cfg.distill_alpha,
            )
        else:
            loss = weighted_loss(fit.loss_fn(logits, labels), labels, sample_weight, fit.class_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(fit.model.parameters(), 1.0)
        fit.optimizer.step()
        fit.scheduler.step()
        fit.optimizer.zero_grad(set_to_none=True)
        running += loss.item()
        fit.step += 1
        bar.set_postfix(loss=f"{running / n:.4f}")
        if _out_of_steps(fit, cfg):
            break
    bar.close()
    return running / max(1, n)


def _out_of_steps(fit: _Fit, cfg: TrainConfig) -> bool:
    return cfg.max_steps is not None and fit.step >= cfg.max_steps


def _report_epoch(epoch: int, loss: float, metrics: dict[str, Any], progress: bool) -> dict[str, Any]:
    # One line an epoch: printed beside the progress bar, or logged when there is none (a job's log).
    log.log(
        logging.DEBUG if progress else logging.INFO,
        "epoch %d: loss %.4f accuracy %.4f macro-F1 %.4f",
        epoch,
        loss,
        metrics["accuracy"],
        metrics["macro_f1"],
    )
    if progress:
        print(
            f"epoch {epoch}: loss {loss:.4f}  accuracy {metrics['accuracy']:.4f}  "
            f"macro-F1 {metrics['macro_f1']:.4f}",
            flush=True,
        )
    return {"epoch": epoch, "loss": loss, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def _fit_epochs(
    fit: _Fit,
    train_set: list[Example],
    eval_set: list[Example],
    cfg: TrainConfig,
    staging: Path,
    should_stop: StopCheck | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Train epoch by epoch, keep the best checkpoint (macro-F1 on eval_set) in `staging`, stop
    early after cfg.patience epochs without a gain; returns (best metrics with its epoch, history)."""
    rng = random.Random(cfg.seed)
    eval_texts = [e.text for e in eval_set]
    eval_true = np.array([e.label for e in eval_set])
    best: dict[str, Any] | None = None
    history: list[dict[str, Any]] = []
    stale = 0
    for epoch in range(1, cfg.epochs + 1):
        loss = _train_epoch(fit, train_set, cfg, rng, epoch, should_stop)
        pred = predict_torch(fit.model, fit.tokenizer, eval_texts, cfg.max_length).argmax(axis=1)
        metrics = classification_report(eval_true, pred)
        history.append(_report_epoch(epoch, loss, metrics, cfg.progress))
        if best is None or metrics["macro_f1"] > best["macro_f1"]:
            best = {**metrics, "epoch": epoch}
            fit.model.save_pretrained(str(staging), safe_serialization=True)
            fit.tokenizer.save_pretrained(str(staging))
            stale = 0
        else:
            stale += 1
            if stale >= cfg.patience:
                log.info("early stop: no macro-F1 gain for %d epochs", stale)
                break
        if _out_of_steps(fit, cfg):
            break
    assert best is not None  # at least one epoch ran: cfg.epochs >= 1
    return best, history


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

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    _seed(cfg.seed)
    if eval_set is None:  # from the labelled examples; unlabelled ones (distillation) all train
        labelled = [e for e in train_set if e.label != UNLABELLED]
        fit_part, eval_set = stratified_split(labelled, cfg.eval_fraction, cfg.seed)
        train_set = fit_part + [e for e in train_set if e.label == UNLABELLED]
    if not train_set or not eval_set:
        raise ValueError("need at least one training and one evaluation example")
    if cfg.distill_temperature is not None and any(e.soft is None for e in train_set):
        raise ValueError("distillation needs the teacher's soft targets on every training example")
    if cfg.epochs < 1:
        raise ValueError("epochs must be at least 1")

    base = Path(cfg.init_from) if cfg.init_from is not None else resolve_base(cfg.base)
    if cfg.init_from is not None and not (base / "config.json").is_file():
        raise ValueError(f"init_from {base}: not a folder written by `finsent train` (no config.json)")
    counts, weights = class_weights(train_set, cfg.class_weights)
    fit = _prepare(base, cfg, weights, total_steps(len(train_set), cfg))
    started = time.time()
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        best, history = _fit_epochs(fit, train_set, eval_set, cfg, staging, should_stop)
    except TrainingCancelled:
        shutil.rmtree(staging, ignore_errors=True)
        raise
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
        "metrics": {k: v for k, v in best.items() if k != "epoch"},
        "history": history,
        "steps": fit.step,
        "duration_s": round(time.time() - started, 1),
        "torch_threads": torch.get_num_threads(),
        "device": fit.device,
    }
    if cfg.distill_temperature is not None:
        metadata["distillation"] = {
            "teacher": cfg.extra.get("teacher"),
            "temperature": cfg.distill_temperature,
            "alpha": cfg.distill_alpha,
            "unlabelled": sum(1 for e in train_set if e.label == UNLABELLED),
        }
    (staging / LABELS_FILE).write_text(json.dumps([str(label) for label in LABELS]))
    write_jsonl(eval_set, staging / EVAL_SPLIT_FILE)
    (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return metadata
