"""The one settings object. Sources, highest priority first: CLI flags, `FINSENT_*` environment
variables, defaults. `finsent <command> --help` is generated from it; docs/configuration.md documents it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from finsent.aggregate.windows import parse_window
from finsent.contracts.news import DEFAULT_MAX_LENGTH


def _host_port(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    for part in value.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected HOST:PORT[,HOST:PORT...], got {value!r}")
    return value


# Secrets are set from the environment, `FINSENT_<NAME>`, or from a file, `FINSENT_<NAME>_FILE` (as
# container orchestrators mount them); never from flags, which any user of the host can read in the
# process list. They are SecretStr: printed as asterisks in reprs, logs and errors.
SECRETS = ("kafka_sasl_password", "kafka_ssl_key_password", "webhook_secret")


def _secret_from_file(name: str) -> str | None:
    env = f"FINSENT_{name.upper()}_FILE"
    path = os.environ.get(env)
    if not path:
        return None
    if os.environ.get(f"FINSENT_{name.upper()}"):
        raise ValueError(f"set FINSENT_{name.upper()} or {env}, not both")
    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"{env}: cannot read {path} ({exc.strerror})") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINSENT_", extra="ignore", validate_default=True)

    # --- where the stream comes from -----------------------------------------------------------
    kafka: Annotated[
        str | None,
        Field(description="Kafka bootstrap servers HOST:PORT; unset = embedded mode (bundled sample feed)"),
    ] = None
    news_topic: Annotated[str, Field(description="input topic of NewsItem JSON")] = "finsent.news"
    scored_topic: Annotated[str, Field(description="output topic of ScoredItem JSON")] = "finsent.scored"
    dlq_topic: Annotated[str, Field(description="dead-letter topic for rejected input")] = "finsent.news.dlq"
    group_id: Annotated[str, Field(description="consumer group of the scorers")] = "finsent-scorer"
    partitions: Annotated[int, Field(ge=1, le=1024, description="partitions of topics FinSent creates")] = 6
    create_topics: Annotated[bool, Field(description="create missing topics at start")] = True
    sample_feed: Annotated[
        Path | None, Field(description="JSONL feed replayed in embedded mode; default: the bundled sample")
    ] = None

    # --- Kafka security (docs/kafka-security.md) ------------------------------------------------
    kafka_security_protocol: Annotated[
        Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
        Field(description="PLAINTEXT, SSL (TLS; mutual with a client certificate), SASL_PLAINTEXT, SASL_SSL"),
    ] = "PLAINTEXT"
    kafka_ssl_cafile: Annotated[
        Path | None,
        Field(description="PEM file of the CA(s) that sign the brokers' certificates; default: system CAs"),
    ] = None
    kafka_ssl_certfile: Annotated[
        Path | None, Field(description="client certificate (PEM), for mutual TLS")
    ] = None
    kafka_ssl_keyfile: Annotated[Path | None, Field(description="client certificate's private key (PEM)")] = (
        None
    )
    kafka_ssl_key_password: Annotated[
        SecretStr | None, Field(description="password of an encrypted client key (secret)")
    ] = None
    kafka_ssl_check_hostname: Annotated[
        bool, Field(description="check the broker certificate's host name (turn off only for tests)")
    ] = True
    kafka_sasl_mechanism: Annotated[
        Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None,
        Field(description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (with a SASL protocol)"),
    ] = None
    kafka_sasl_username: Annotated[str | None, Field(description="SASL user (PLAIN and SCRAM)")] = None
    kafka_sasl_password: Annotated[SecretStr | None, Field(description="SASL password (secret)")] = None
    kafka_sasl_oauth_token_file: Annotated[
        Path | None, Field(description="OAUTHBEARER token file, re-read at every authentication")
    ] = None

    # --- batching --------------------------------------------------------------------------------
    max_batch: Annotated[
        int, Field(ge=1, le=10_000, description="most records scored together in one micro-batch")
    ] = 512  # chosen by the stream benchmark (bench/README.md)
    max_linger_ms: Annotated[
        int,
        Field(
            ge=0,
            le=60_000,
            description="longest wait for a micro-batch to fill after its first record "
            "(longer only while the scorer is still busy with the batch before)",
        ),
    ] = 200
    max_message_bytes: Annotated[
        int, Field(ge=1_024, description="larger input records go to the dead-letter topic")
    ] = 262_144
    dlq_payload_limit: Annotated[
        int, Field(ge=0, description="bytes of a rejected record's payload kept on the dead-letter topic")
    ] = 65_536
    dedup_size: Annotated[int, Field(ge=0, description="ids remembered to drop duplicates (0 = off)")] = (
        200_000
    )
    dedup_ttl_s: Annotated[float, Field(gt=0, description="how long an id is remembered")] = 3_600.0
    produce_retries: Annotated[
        int,
        Field(
            ge=0,
            le=1_000,
            description="failed deliveries in a row after which the scorer exits (0 = never: it retries "
            "with backoff and a new producer, reporting not ready, until the broker is back)",
        ),
    ] = 0
    kafka_session_timeout_ms: Annotated[
        int,
        Field(
            ge=6_000,
            le=300_000,
            description="consumer-group session: a crashed member's partitions move after this long",
        ),
    ] = 10_000
    kafka_heartbeat_interval_ms: Annotated[
        int,
        Field(ge=500, le=100_000, description="consumer-group heartbeat (at most a third of the session)"),
    ] = 3_000
    kafka_group_instance_id: Annotated[
        str | None,
        Field(
            description="static group membership: a stable id per replica (e.g. the pod name) lets a "
            "restarted replica take its partitions back at once; unset = dynamic membership"
        ),
    ] = None
    event_time_max_future_s: Annotated[
        float,
        Field(
            ge=0,
            description="an item's event time may lie at most this far after its record's timestamp; "
            "later ones are clamped to it (and counted)",
        ),
    ] = 300.0
    event_time_max_past_s: Annotated[
        float,
        Field(
            ge=0,
            description="an item's event time may lie at most this far before its record's timestamp; "
            "earlier ones are clamped to it (0 = no bound)",
        ),
    ] = 604_800.0
    progress_s: Annotated[
        float,
        Field(ge=0, description="seconds between progress lines in the log (counts, lag); 0 = off"),
    ] = 30.0

    # --- Triton ----------------------------------------------------------------------------------
    triton: Annotated[
        str | None, Field(description="Triton gRPC HOST:PORT; unset = the embedded ONNX Runtime backend")
    ] = None
    triton_model: Annotated[str | None, Field(description="model name on Triton; default: model_name")] = None
    triton_timeout_s: Annotated[float, Field(gt=0, description="timeout of one Triton request")] = 10.0
    triton_retries: Annotated[int, Field(ge=0, le=10, description="retries of a failed Triton request")] = 3
    triton_concurrency: Annotated[int, Field(ge=1, le=64, description="Triton requests in flight")] = 4
    triton_ssl: Annotated[bool, Field(description="gRPC to Triton over TLS")] = False
    triton_ssl_cafile: Annotated[
        Path | None, Field(description="PEM CA of Triton's certificate (TLS; default: system CAs)")
    ] = None
    triton_ssl_certfile: Annotated[Path | None, Field(description="client certificate, for mutual TLS")] = (
        None
    )
    triton_ssl_keyfile: Annotated[Path | None, Field(description="client certificate's private key")] = None

    # --- model -----------------------------------------------------------------------------------
    model_repo: Annotated[Path, Field(description="the Triton model repository")] = Path("model_repo")
    model_name: Annotated[str, Field(description="model name inside the model repository")] = (
        "finsent_sentiment"
    )
    max_length: Annotated[int, Field(ge=8, le=512, description="tokens per text (longer is truncated)")] = (
        DEFAULT_MAX_LENGTH
    )
    infer_batch: Annotated[
        int,
        Field(ge=1, le=1_024, description="texts per inference call (length-sorted, padded to the longest)"),
    ] = 16  # chosen by the inference benchmark (bench/README.md)
    threads: Annotated[
        int,
        Field(ge=0, description="inference threads, each scoring its own chunk of texts; 0 = one per core"),
    ] = 0
    install_model: Annotated[
        bool,
        Field(
            description="install the shipped model as version 1 when the model repository has none "
            "(off: a repository without a version is an error)"
        ),
    ] = True
    model_poll_s: Annotated[
        float, Field(ge=0, description="how often to look for a newer model version (0 = never)")
    ] = 30.0

    # --- aggregation and alerts ----------------------------------------------------------------
    topic_scores_topic: Annotated[
        str,
        Field(description="per-topic scores (key = topic) written by the scorer, read by the aggregators"),
    ] = "finsent.topic-scores"
    alerts_topic: Annotated[str, Field(description="output topic of AlertEvent JSON")] = "finsent.alerts"
    aggregate_group_id: Annotated[str, Field(description="consumer group of the aggregators")] = (
        "finsent-aggregator"
    )
    aggregate_metrics_port: Annotated[
        int, Field(ge=0, le=65_535, description="metrics port of `finsent aggregate` (0 = off)")
    ] = 9465
    windows: Annotated[str, Field(description="sliding windows, comma-separated (units s, m, h, d)")] = (
        "5m,1h,24h"
    )
    aggregate_allowed_lateness: Annotated[
        str,
        Field(
            description="how far out of event-time order a partition's items may arrive and change no "
            "alert: a minute is assessed once every partition has delivered this far past it (later "
            "items are late data, re-assessing the minutes they change); 0s = assess at the newest item"
        ),
    ] = "60s"
    entities: Annotated[
        Path | None,
        Field(description="entity dictionary JSON (ticker, aliases, sector); default: the bundled starter"),
    ] = None
    topic_allow: Annotated[
        str, Field(description="topics that always get their own metrics label, comma-separated")
    ] = ""
    max_topic_labels: Annotated[
        int,
        Field(
            ge=0,
            le=10_000,
            description='further topics labelled in metrics before the rest count as topic="other"',
        ),
    ] = 50
    max_topics: Annotated[int, Field(ge=1, description="topics held in memory (idle ones evicted first)")] = (
        10_000
    )
    spike_window: Annotated[str, Field(description="window tested for a negative spike")] = "5m"
    spike_baseline_window: Annotated[str, Field(description="window before it that sets the baseline")] = "6h"
    spike_min_volume: Annotated[int, Field(ge=1, description="fewest items in the spike window to fire")] = 10
    spike_z: Annotated[float, Field(gt=0, description="z-score to fire")] = 5.0
    spike_z_resolve: Annotated[
        float,
        Field(
            description="z-score (of the resolve window, against the frozen baseline) "
            "under which a spike may resolve"
        ),
    ] = 1.5
    spike_min_delta: Annotated[
        float, Field(ge=0, le=1, description="negative share must exceed the baseline by at least this")
    ] = 0.3
    spike_cooldown: Annotated[
        str, Field(description="a re-fire this soon after a resolve re-opens the same alert")
    ] = "15m"
    spike_long_window: Annotated[
        str, Field(description="a second, longer entry window for slower bursts")
    ] = "20m"
    spike_sequential_llr: Annotated[
        float,
        Field(
            ge=0,
            description="evidence (log-likelihood ratio) at which the sequential (CUSUM) test fires, "
            "on a topic of up to 20 items an hour; busier topics need log(rate/20) more (0 = the test off)",
        ),
    ] = 7.0
    spike_resolve_window: Annotated[
        str, Field(description="window that must be back near the frozen baseline for a spike to resolve")
    ] = "10m"
    spike_max_alert: Annotated[
        str, Field(description="continuous alert after which the topic is re-baselined (a new normal)")
    ] = "6h"
    story_similarity: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="one story counts once: an item this similar (words and word pairs) to one its "
            "topic has counted within the story horizon is a copy (0 = off: every item counts; "
            "1 = exact copies only)",
        ),
    ] = 0.8
    story_horizon: Annotated[str, Field(description="how long a story is remembered to tell copies")] = "6h"
    event_detector: Annotated[
        bool,
        Field(
            description="also detect spikes per (topic, event type), with a model that has an event head; "
            "the other spike settings apply, with its own volume floor"
        ),
    ] = False
    event_detector_min_volume: Annotated[
        int, Field(ge=1, description="fewest items of one (topic, event type) in the spike window to fire")
    ] = 8
    webhook_urls: Annotated[str, Field(description="alert webhooks, comma-separated URLs")] = ""
    webhook_secret: Annotated[
        SecretStr | None,
        Field(description="HMAC-SHA256 key for the X-FinSent-Signature header (never logged)"),
    ] = None
    webhook_max_queue: Annotated[
        int, Field(ge=1, description="alert deliveries held before the oldest is dropped")
    ] = 1_000
    webhook_max_attempts: Annotated[
        int, Field(ge=1, le=20, description="tries per webhook delivery (embedded mode's in-memory sender)")
    ] = 5
    webhook_group_id: Annotated[
        str, Field(description="consumer group that delivers webhooks from the alerts topic")
    ] = "finsent-webhooks"
    webhook_dlq_topic: Annotated[
        str, Field(description="alert deliveries that can never succeed (a 4xx, or too old), with the reason")
    ] = "finsent.alerts.dlq"
    webhook_max_age: Annotated[
        str,
        Field(description="an alert not delivered within this long after it was raised is dead-lettered"),
    ] = "24h"
    webhook_backoff_max: Annotated[
        str, Field(description="longest wait between retries of a failing webhook receiver")
    ] = "5m"

    # --- retraining (docs/retraining.md) -----------------------------------------------------------
    labels_topic: Annotated[str, Field(description="input topic of analysts' LabelEvent JSON")] = (
        "finsent.labels"
    )
    labels_dlq_topic: Annotated[str, Field(description="dead-letter topic for rejected label events")] = (
        "finsent.labels.dlq"
    )
    labels_group_id: Annotated[str, Field(description="consumer group of the label ingesters")] = (
        "finsent-labels"
    )
    retrain_dir: Annotated[
        Path, Field(description="retraining state: label store, run ledger, reports, checkpoints, locks")
    ] = Path("retrain_state")
    retrain_golden: Annotated[
        str, Field(description="comma-separated labelled files: the fixed golden set runs are judged on")
    ] = ""
    retrain_data: Annotated[
        str, Field(description="comma-separated labelled files trained on beside the stored labels")
    ] = ""
    retrain_plan: Annotated[
        Literal["auto", "student", "teacher-student"],
        Field(description="auto: teacher then distilled student where torch sees a GPU, else the student"),
    ] = "auto"
    retrain_base: Annotated[
        str, Field(description="the student's base when there is no serving version to warm-start from")
    ] = "minilm"
    retrain_teacher_base: Annotated[str, Field(description="the teacher's base (teacher-student plan)")] = (
        "mpnet"
    )
    retrain_warm_start: Annotated[
        bool, Field(description="continue from the serving version's weights (else from the base)")
    ] = True
    retrain_epochs: Annotated[int, Field(ge=1, le=100, description="epochs per retraining run")] = 3
    retrain_lr: Annotated[float, Field(gt=0, lt=1, description="peak learning rate of a retraining run")] = (
        5e-5
    )
    retrain_batch_size: Annotated[int, Field(ge=1, le=4_096, description="training batch size")] = 32
    retrain_max_steps: Annotated[
        int | None, Field(ge=1, description="stop training after this many steps (smoke runs)")
    ] = None
    retrain_device: Annotated[str, Field(description="auto, cpu, cuda or cuda:N")] = "auto"
    retrain_max_macro_f1_drop: Annotated[
        float, Field(ge=0, le=1, description="promote only if golden macro-F1 falls by at most this")
    ] = 0.005
    retrain_max_class_f1_drop: Annotated[
        float, Field(ge=0, le=1, description="... and no class's golden F1 falls by more than this")
    ] = 0.02
    retrain_holdout_fraction: Annotated[
        float, Field(ge=0, lt=1, description="share of the newest labels held out to compare models on")
    ] = 0.2
    retrain_holdout_min: Annotated[
        int, Field(ge=1, description="fewer held-out labels than this: no newest-labels comparison")
    ] = 30
    retrain_keep_versions: Annotated[
        int, Field(ge=1, le=1_000, description="model versions kept in the repository (older are removed)")
    ] = 5
    retrain_min_new_labels: Annotated[
        int, Field(ge=0, description="a scheduled run trains only after this many new labels")
    ] = 50
    retrain_cron: Annotated[
        str, Field(description="when the scheduler runs retraining: a crontab line (UTC)")
    ] = "0 3 * * *"
    retrain_interval: Annotated[
        str | None, Field(description="instead of the cron line: every this long, e.g. 6h")
    ] = None
    retrain_misfire_grace: Annotated[
        str, Field(description="a run missed while the scheduler was down still runs if this late")
    ] = "6h"
    retrain_metrics_port: Annotated[
        int, Field(ge=0, le=65_535, description="the scheduler's Prometheus metrics port (0 = off)")
    ] = 9467

    # --- outputs ---------------------------------------------------------------------------------
    metrics_port: Annotated[int, Field(ge=0, le=65_535, description="Prometheus metrics port (0 = off)")] = (
        9464
    )
    metrics_addr: Annotated[str, Field(description="address the metrics server binds")] = "127.0.0.1"
    scored_include_text: Annotated[
        bool, Field(description="copy the input text onto ScoredItem (off: scored records stay small)")
    ] = False
    log_level: Annotated[str, Field(description="DEBUG, INFO, WARNING or ERROR")] = "INFO"

    _kafka = field_validator("kafka", "triton")(classmethod(lambda cls, v: _host_port(v)))

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in SECRETS:
                value = _secret_from_file(name)
                if value is not None:
                    data = {**data, name: value}
        return data

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return value

    @field_validator(
        "windows",
        "spike_window",
        "spike_baseline_window",
        "spike_cooldown",
        "spike_long_window",
        "spike_resolve_window",
        "spike_max_alert",
        "story_horizon",
        "webhook_max_age",
        "webhook_backoff_max",
        "retrain_misfire_grace",
    )
    @classmethod
    def _windows(cls, value: str) -> str:
        for part in value.split(","):
            parse_window(part)
        return value

    @field_validator("aggregate_allowed_lateness")
    @classmethod
    def _lateness(cls, value: str) -> str:
        parse_window(value, allow_zero=True)
        return value

    @field_validator("retrain_interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value:
            parse_window(value)
        return value or None

    @field_validator("retrain_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        # The full check is APScheduler's (CronTrigger.from_crontab) when the scheduler starts; this
        # catches the common slip (a 6-field line, a missing field) without importing it here.
        if len(value.split()) != 5:
            raise ValueError(
                f"expected a crontab line of 5 fields (minute hour day month weekday), got {value!r}"
            )
        return value

    @property
    def embedded(self) -> bool:
        return self.kafka is None

    def window_map(self) -> dict[str, int]:
        return {w.strip(): parse_window(w) for w in self.windows.split(",") if w.strip()}

    def webhook_url_list(self) -> list[str]:
        return [u.strip() for u in self.webhook_urls.split(",") if u.strip()]

    def topic_allow_set(self) -> set[str]:
        return {t.strip() for t in self.topic_allow.split(",") if t.strip()}


# --- which settings each command takes ----------------------------------------------------------
# Settings grouped by concern; a command's flags (and `--help`) are the groups it uses. The
# environment still sets any field for any command: one object, one place per default.
GROUPS: dict[str, tuple[str, ...]] = {
    "Kafka connection": (
        "kafka",
        "kafka_session_timeout_ms",
        "kafka_heartbeat_interval_ms",
        "kafka_group_instance_id",
    ),
    "Kafka security": (
        "kafka_security_protocol",
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        "kafka_ssl_key_password",
        "kafka_ssl_check_hostname",
        "kafka_sasl_mechanism",
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_sasl_oauth_token_file",
    ),
    "topics": (
        "news_topic",
        "scored_topic",
        "dlq_topic",
        "topic_scores_topic",
        "alerts_topic",
        "webhook_dlq_topic",
        "partitions",
        "create_topics",
    ),
    "source and batching": (
        "group_id",
        "sample_feed",
        "max_batch",
        "max_linger_ms",
        "max_message_bytes",
        "dlq_payload_limit",
        "dedup_size",
        "dedup_ttl_s",
        "event_time_max_future_s",
        "event_time_max_past_s",
        "produce_retries",
        "scored_include_text",
        "progress_s",
    ),
    "scoring model and backends": (
        "triton",
        "triton_model",
        "triton_timeout_s",
        "triton_retries",
        "triton_concurrency",
        "triton_ssl",
        "triton_ssl_cafile",
        "triton_ssl_certfile",
        "triton_ssl_keyfile",
        "model_repo",
        "model_name",
        "max_length",
        "infer_batch",
        "threads",
        "install_model",
        "model_poll_s",
        "entities",
    ),
    "aggregation and spike detection": (
        "aggregate_group_id",
        "windows",
        "aggregate_allowed_lateness",
        "topic_allow",
        "max_topic_labels",
        "max_topics",
        "spike_window",
        "spike_baseline_window",
        "spike_min_volume",
        "spike_z",
        "spike_z_resolve",
        "spike_min_delta",
        "spike_cooldown",
        "spike_long_window",
        "spike_sequential_llr",
        "spike_resolve_window",
        "spike_max_alert",
        "story_similarity",
        "story_horizon",
        "event_detector",
        "event_detector_min_volume",
    ),
    "alert webhooks": ("webhook_urls", "webhook_secret", "webhook_max_queue", "webhook_max_attempts"),
    "webhook delivery from Kafka": ("webhook_group_id", "webhook_max_age", "webhook_backoff_max"),
    "metrics and logs": ("metrics_port", "aggregate_metrics_port", "metrics_addr", "log_level"),
    "labels from Kafka": ("labels_topic", "labels_dlq_topic", "labels_group_id"),
    "retraining": (
        "retrain_dir",
        "retrain_golden",
        "retrain_data",
        "retrain_plan",
        "retrain_base",
        "retrain_teacher_base",
        "retrain_warm_start",
        "retrain_epochs",
        "retrain_lr",
        "retrain_batch_size",
        "retrain_max_steps",
        "retrain_device",
        "retrain_max_macro_f1_drop",
        "retrain_max_class_f1_drop",
        "retrain_holdout_fraction",
        "retrain_holdout_min",
        "retrain_keep_versions",
    ),
    "retraining schedule": (
        "retrain_min_new_labels",
        "retrain_cron",
        "retrain_interval",
        "retrain_misfire_grace",
        "retrain_metrics_port",
    ),
}

# Embedded `run` aggregates in-process and posts webhooks itself, hence its aggregation and webhook
# groups; `aggregate` reads event_time_max_future_s to bound the records it reads.
COMMANDS: dict[str, tuple[str, ...]] = {
    "run": (
        "Kafka connection",
        "Kafka security",
        "topics",
        "source and batching",
        "scoring model and backends",
        "aggregation and spike detection",
        "alert webhooks",
        "metrics and logs",
    ),
    "aggregate": (
        "Kafka connection",
        "Kafka security",
        "topics",
        "aggregation and spike detection",
        "alert webhooks",
        "webhook delivery from Kafka",
        "metrics and logs",
        "event_time_max_future_s",
    ),
    "produce": ("kafka", "Kafka security", "news_topic", "partitions", "create_topics", "log_level"),
    "retrain": ("retraining", "model_repo", "model_name", "max_length", "log_level"),
    "scheduler": (
        "retraining",
        "model_repo",
        "model_name",
        "max_length",
        "retraining schedule",
        "kafka",
        "Kafka security",
        "labels from Kafka",
        "partitions",
        "create_topics",
        "metrics_addr",
        "log_level",
    ),
    "rollback": ("retrain_dir", "model_repo", "model_name", "log_level"),
    "labels": ("retrain_dir", "log_level"),
    "labels-consume": (
        "kafka",
        "Kafka security",
        "labels from Kafka",
        "retrain_dir",
        "partitions",
        "create_topics",
        "log_level",
    ),
}


def command_fields(command: str) -> dict[str, list[str]]:
    """{group title: field names} for a command, in declaration order. An entry of COMMANDS that is a
    field name rather than a group adds that field alone (shown under its own group)."""
    out: dict[str, list[str]] = {}
    for entry in COMMANDS[command]:
        if entry in GROUPS:
            out.setdefault(entry, []).extend(GROUPS[entry])
        else:
            group = next(g for g, names in GROUPS.items() if entry in names)
            out.setdefault(group, []).append(entry)
    return out
