"""`finsent scheduler`: retraining on a schedule (APScheduler), and the label ingest from Kafka.

- One active scheduler per state folder: it holds `scheduler.lock`; a second process waits as a
  standby and takes over when the active one dies (the kernel frees the lock). Runs also take the run
  lock, so a manual `finsent retrain` and a scheduled run never train at once.
- The job lives in a SQLAlchemy job store on SQLite (`scheduler.db`): a trigger missed while no
  scheduler ran fires once at start (coalesce) if within the misfire grace time, never once per
  missed slot. APScheduler moves a job's next run time before running it, so a run cut short by a
  crash or SIGTERM is not in the job store any more: the ledger shows it unfinished, and the next
  start runs it again, once.
- SIGTERM during a run: the run stops at its next check (between batches), writes its report as
  `abandoned`, and nothing is promoted; the scheduler then exits."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from finsent.aggregate.windows import parse_window
from finsent.app import configs
from finsent.locks import LockBusy, try_exclusive
from finsent.retrain import ledger as outcomes
from finsent.retrain.ledger import RunLedger
from finsent.retrain.metrics import RetrainCollector
from finsent.retrain.run import retrain
from finsent.retrain.state import StatePaths
from finsent.settings import Settings

log = logging.getLogger(__name__)

JOB_ID = "finsent-retrain"
STANDBY_POLL_S = 5.0
SCHEDULE = "schedule"  # the ledger's trigger for scheduled runs

_active: RetrainScheduler | None = None


def scheduled_retrain() -> None:
    """The job: module level, since the job store keeps a reference to it by name."""
    if _active is None:  # a job store shared with an older process; this process is not serving it
        log.warning("a scheduled run fired with no active scheduler in this process; skipped")
        return
    _active.run_once()


class RetrainScheduler:
    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        self.settings, self.stop = settings, stop
        self.paths = StatePaths(settings.retrain_dir)

    def trigger(self) -> Any:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.settings.retrain_interval:
            return IntervalTrigger(seconds=parse_window(self.settings.retrain_interval), timezone=UTC)
        return CronTrigger.from_crontab(self.settings.retrain_cron, timezone=UTC)

    def run_once(self) -> None:
        cfg = replace(
            configs.retrain_config(self.settings), min_new_labels=self.settings.retrain_min_new_labels
        )
        try:
            result = retrain(cfg, trigger=SCHEDULE, should_stop=self.stop.is_set)
        except LockBusy as exc:
            log.warning("scheduled retraining skipped: %s", exc)
            return
        log.info("scheduled retraining: %s (%s)", result.outcome, result.report)

    def _interrupted(self) -> bool:
        """Whether the newest scheduled run did not finish (its process died, or it was stopped)."""
        runs = [r for r in RunLedger(self.paths.ledger).runs(limit=20) if r.trigger == SCHEDULE]
        return bool(runs) and runs[0].outcome in (outcomes.RUNNING, outcomes.ABANDONED)

    def serve(self) -> None:
        """Run the schedule until `stop` (the caller holds the scheduler lock)."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.background import BackgroundScheduler

        self.paths.root.mkdir(parents=True, exist_ok=True)
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{self.paths.jobstore.resolve()}")},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": parse_window(self.settings.retrain_misfire_grace),
            },
            timezone=UTC,
        )
        scheduler.start(paused=True)
        trigger = self.trigger()
        job = scheduler.get_job(JOB_ID)
        if job is None or str(job.trigger) != str(trigger):
            # A new or changed schedule; an unchanged one keeps its stored next run time, so a
            # trigger missed while no scheduler ran still fires (once) below.
            job = scheduler.add_job(scheduled_retrain, trigger, id=JOB_ID, replace_existing=True)
        if self._interrupted():
            log.warning("the last scheduled run did not finish: running it again now")
            job.modify(next_run_time=datetime.now(UTC))
        scheduler.resume()
        job = scheduler.get_job(JOB_ID)
        log.info("retraining scheduled (%s); next run %s", trigger, job.next_run_time if job else "?")
        try:
            self.stop.wait()
        finally:
            # wait=True: a run in progress sees `stop` at its next check and ends as abandoned.
            scheduler.shutdown(wait=True)


def run_scheduler(settings: Settings, stop: threading.Event) -> int:
    global _active
    paths = StatePaths(settings.retrain_dir)
    registry = CollectorRegistry()
    registry.register(RetrainCollector(paths, settings.model_repo, settings.model_name))
    ingest = _start_label_ingest(settings, registry, stop) if settings.kafka else None
    if settings.retrain_metrics_port:
        start_http_server(settings.retrain_metrics_port, addr=settings.metrics_addr, registry=registry)
    said_standby = False
    try:
        while not stop.is_set():
            try:
                with try_exclusive(paths.scheduler_lock, "the scheduler lock"):
                    if said_standby:
                        log.info("the active scheduler is gone: this one takes over")
                    _active = RetrainScheduler(settings, stop)
                    _active.serve()
            except LockBusy as exc:
                if not said_standby:
                    log.info("standby: %s; taking over when it stops", exc)
                    said_standby = True
                stop.wait(STANDBY_POLL_S)
    finally:
        _active = None
        stop.set()
        if ingest is not None:
            ingest.join(timeout=15)
    log.info("scheduler stopped")
    return 0


def _start_label_ingest(
    settings: Settings, registry: CollectorRegistry, stop: threading.Event
) -> threading.Thread:
    from finsent.app.labels import label_ingester

    ingester = label_ingester(settings, registry)

    def run() -> None:
        try:
            ingester.run(stop)
        finally:
            ingester.close()

    thread = threading.Thread(target=run, name="label-ingest", daemon=True)
    thread.start()
    return thread
