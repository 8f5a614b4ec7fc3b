"""The demo model: on a fresh machine, the first embedded run fine-tunes all-MiniLM-L6-v2 on the
bundled `demo_train.csv` (about a minute on 2 cores, with a progress bar) and exports it into the
model repository, where later runs find it."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from finsent.inference.model_repo import latest_version

log = logging.getLogger(__name__)

DEMO_TRAIN = Path(__file__).resolve().parent / "data" / "demo_train.csv"
DEMO_EPOCHS = 4
DEMO_LR = 1e-4
DEMO_BATCH = 16


def ensure_demo_model(repo: Path, name: str, *, max_length: int = 128) -> int:
    """Return the newest version in `repo/name`, building the demo model first if there is none."""
    version = latest_version(repo, name)
    if version is not None:
        return version
    try:
        from finsent.training.data import load
        from finsent.training.export import export
        from finsent.training.train import TrainConfig, train
    except ImportError as exc:  # torch/transformers are the `train` extra
        raise RuntimeError(
            f"{repo / name} has no model version and the demo model cannot be built here ({exc}). "
            "Install the training extra (pip install 'finsent[train]') "
            "or export a model with `finsent export`."
        ) from exc
    print(
        f"No model in {repo / name}: fine-tuning the demo model on {DEMO_TRAIN.name} "
        f"(once; about a minute on 2 cores)...",
        flush=True,
    )
    examples, report = load([DEMO_TRAIN])
    with tempfile.TemporaryDirectory(prefix="finsent-demo-") as tmp:
        out = Path(tmp) / "demo-model"
        metadata = train(
            examples,
            out,
            TrainConfig(epochs=DEMO_EPOCHS, lr=DEMO_LR, batch_size=DEMO_BATCH, max_length=max_length),
            report=report,
        )
        manifest = export(out, repo, name, max_length=max_length)
    m = metadata["metrics"]
    print(
        f"Demo model ready: {name} version {manifest['version']} ({manifest['format']}), "
        f"held-out accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f} "
        f"on {m['n']} template sentences.",
        flush=True,
    )
    return int(manifest["version"])
