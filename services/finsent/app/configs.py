"""The domain objects each part of FinSent is configured with, built from the one `Settings`: the
detector's, the story filter's, Kafka's connection and group options, the event-time bounds, a
retraining run's. Here rather than on Settings, so that settings stays a leaf of plain values and
validation, and each builder imports the package it configures (app/ may import every package)."""

from __future__ import annotations

from pathlib import Path

from finsent.aggregate.detector import DetectorConfig
from finsent.aggregate.stories import NoveltyConfig
from finsent.aggregate.windows import parse_window
from finsent.kafka.client import GroupOptions
from finsent.kafka.security import KafkaConnection, KafkaSecurity
from finsent.retrain.config import RetrainConfig
from finsent.retrain.gate import GateConfig
from finsent.scoring.event_time import EventTimePolicy
from finsent.settings import GROUPS, Settings
from finsent.training.config import TrainConfig

__all__ = [
    "allowed_lateness_s",
    "detector_config",
    "event_detector_config",
    "event_time_policy",
    "group_options",
    "kafka_connection",
    "novelty_config",
    "retrain_config",
]


def detector_config(settings: Settings) -> DetectorConfig:
    s = settings
    return DetectorConfig(
        short_window_s=parse_window(s.spike_window),
        baseline_window_s=parse_window(s.spike_baseline_window),
        min_volume=s.spike_min_volume,
        z_fire=s.spike_z,
        z_resolve=s.spike_z_resolve,
        min_delta=s.spike_min_delta,
        cooldown_s=parse_window(s.spike_cooldown),
        long_window_s=parse_window(s.spike_long_window),
        scan_window_s=3600 if s.spike_sequential_llr > 0 else 0,
        scan_llr=s.spike_sequential_llr or 1.0,  # unused when off
        resolve_window_s=parse_window(s.spike_resolve_window),
        max_alert_s=parse_window(s.spike_max_alert),
    )


def event_detector_config(settings: Settings) -> DetectorConfig | None:
    """The per-(topic, event type) detector's settings, or None when it is off."""
    if not settings.event_detector:
        return None
    return detector_config(settings).with_volume_floor(settings.event_detector_min_volume)


def novelty_config(settings: Settings) -> NoveltyConfig | None:
    """How copies of one story are told apart, or None when every item counts."""
    if settings.story_similarity <= 0:
        return None
    return NoveltyConfig(similarity=settings.story_similarity, horizon_s=parse_window(settings.story_horizon))


def allowed_lateness_s(settings: Settings) -> int:
    return parse_window(settings.aggregate_allowed_lateness, allow_zero=True)


def kafka_connection(settings: Settings) -> KafkaConnection:
    """The Kafka address with its security settings, for every client FinSent creates."""
    assert settings.kafka is not None
    prefix = "kafka_"
    fields = {n[len(prefix) :]: getattr(settings, n) for n in GROUPS["Kafka security"]}
    return KafkaConnection(settings.kafka, KafkaSecurity(**fields))


def group_options(settings: Settings) -> GroupOptions:
    return GroupOptions(
        settings.kafka_session_timeout_ms,
        settings.kafka_heartbeat_interval_ms,
        settings.kafka_group_instance_id,
    )


def event_time_policy(settings: Settings) -> EventTimePolicy:
    return EventTimePolicy(settings.event_time_max_future_s, settings.event_time_max_past_s)


def retrain_config(settings: Settings) -> RetrainConfig:
    s = settings

    def files(value: str) -> list[Path]:
        return [Path(p.strip()) for p in value.split(",") if p.strip()]

    def recipe(base: str, lr: float) -> TrainConfig:
        return TrainConfig(
            base=base,
            epochs=s.retrain_epochs,
            lr=lr,
            batch_size=s.retrain_batch_size,
            max_length=s.max_length,
            max_steps=s.retrain_max_steps,
            device=s.retrain_device,
            patience=s.retrain_epochs,  # a short run keeps its best epoch; it does not stop early
        )

    return RetrainConfig(
        state_dir=s.retrain_dir,
        repo=s.model_repo,
        model_name=s.model_name,
        golden=files(s.retrain_golden),
        base_data=files(s.retrain_data),
        student=recipe(s.retrain_base, s.retrain_lr),
        # The 110M teacher fine-tunes best at a lower rate (docs/model.md).
        teacher=recipe(s.retrain_teacher_base, min(s.retrain_lr, 3e-5)),
        plan=s.retrain_plan,
        warm_start=s.retrain_warm_start,
        holdout_fraction=s.retrain_holdout_fraction,
        holdout_min=s.retrain_holdout_min,
        gate=GateConfig(s.retrain_max_macro_f1_drop, s.retrain_max_class_f1_drop),
        keep_versions=s.retrain_keep_versions,
    )
