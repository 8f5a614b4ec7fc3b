"""The demo model: on a fresh machine, the first embedded run fine-tunes all-MiniLM-L6-v2 on the
bundled `demo_train.csv` (about a minute on 2 cores, with a progress bar) and exports it into the
model repository, where later runs find it. The PyTorch checkpoint stays in the user cache
(~/.cache/finsent) for benchmarks and re-exports."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from finsent.contracts.news import DEFAULT_MAX_LENGTH
from finsent.inference.model_repo import latest_version

DEMO_TRAIN = Path(__file__).resolve().parent / "data" / "demo_train.csv"
DEMO_EPOCHS = 4
DEMO_LR = 1e-4
DEMO_BATCH = 16
DEMO_POOLING = "mean"


def demo_checkpoint_dir() -> Path:
    """Where the fine-tuned demo model (PyTorch) is kept: per user, per version of the training file."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "finsent"
    digest = hashlib.sha256(DEMO_TRAIN.read_bytes()).hexdigest()[:12]
    return cache / f"demo-model-{digest}-e{DEMO_EPOCHS}-{DEMO_POOLING}"


def ensure_demo_checkpoint(max_length: int = DEFAULT_MAX_LENGTH) -> Path:
    """The fine-tuned demo model folder, trained on first use."""
    from finsent.training.data import load
    from finsent.training.train import TrainConfig, train

    out = demo_checkpoint_dir()
    if (out / "config.json").is_file():
        return out
    print(f"Fine-tuning the demo model on {DEMO_TRAIN.name} (once; about a minute on 2 cores)...", flush=True)
    examples, report = load([DEMO_TRAIN])
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = train(
        examples,
        out,
        TrainConfig(
            epochs=DEMO_EPOCHS, lr=DEMO_LR, batch_size=DEMO_BATCH, max_length=max_length, pooling=DEMO_POOLING
        ),
        report=report,
    )
    m = metadata["metrics"]
    print(
        f"Demo model trained: held-out accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f} "
        f"on {m['n']} template sentences; kept in {out}",
        flush=True,
    )
    return out


def ensure_demo_model(repo: Path, name: str, *, max_length: int = DEFAULT_MAX_LENGTH) -> int:
    """Return the newest version in `repo/name`, building the demo model first if there is none."""
    version = latest_version(repo, name)
    if version is not None:
        return version
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:  # torch/transformers are the `train` extra
        raise RuntimeError(
            f"{repo / name} has no model version and the demo model cannot be built here ({exc}). "
            "Install the training extra (pip install 'finsent[train]') "
            "or export a model with `finsent export`."
        ) from exc
    from finsent.training.export import export

    print(f"No model in {repo / name}: building the demo model.", flush=True)
    manifest = export(ensure_demo_checkpoint(max_length), repo, name, max_length=max_length)
    print(f"Demo model exported: {name} version {manifest['version']} ({manifest['format']})", flush=True)
    return int(manifest["version"])
