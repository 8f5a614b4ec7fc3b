"""The retraining commands' work: one run now (`finsent retrain`), and a rollback to an earlier
version's weights (`finsent rollback`). The scheduler is scheduler.py."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from finsent.app import configs
from finsent.settings import Settings

if TYPE_CHECKING:  # retrain/run.py pulls in the training code (torch) when imported
    from finsent.inference.model_repo import Manifest
    from finsent.retrain.run import RunResult

__all__ = ["retrain_now", "rollback_to"]


def retrain_now(settings: Settings, stop: threading.Event, *, progress: bool) -> RunResult:
    """One retraining run (trigger `manual`): its RunResult. Setting `stop` abandons the run
    cleanly, nothing promoted."""
    from finsent.retrain.run import retrain

    cfg = replace(configs.retrain_config(settings), progress=progress)
    return retrain(cfg, trigger="manual", should_stop=stop.is_set)


def rollback_to(settings: Settings, to: int | None) -> Manifest:
    """Serve an earlier version's weights again, as the next version: `to`, else the serving
    version's parent; the new manifest. Under the run lock: a rollback and a promotion never race
    for the next version number."""
    from finsent.locks import try_exclusive
    from finsent.retrain.promote import rollback
    from finsent.retrain.state import StatePaths

    with try_exclusive(StatePaths(settings.retrain_dir).run_lock, "the retraining run lock"):
        return rollback(settings.model_repo, settings.model_name, to)
