"""The one settings object. Sources, highest priority first: CLI flags, `FINSENT_*` environment
variables, defaults. `finsent <command> --help` is generated from it; docs/configuration.md documents it."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Section:
    """A concern's settings: its title (a group of `--help`) and the commands that take all of it.
    Each field names its section where it is declared (`SECTION.field(...)`, in place of pydantic's
    `Field`), and may add single commands that take that field alone (`also`): the groups and each
    command's flags are read from the fields, with no second list to keep in step."""

    title: str
    commands: tuple[str, ...]

    def field(self, *, also: tuple[str, ...] = (), **kwargs: Any) -> Any:
        return Field(json_schema_extra={"section": self.title, "also": list(also)}, **kwargs)


# Embedded `run` aggregates in-process and posts webhooks itself, hence its aggregation and webhook
# sections; `aggregate` also takes event_time_max_future_s, to bound the records it reads.
KAFKA = Section("Kafka connection", ("run", "aggregate"))
KAFKA_SECURITY = Section("Kafka security", ("run", "aggregate", "produce", "scheduler", "labels-consume"))
TOPICS = Section("topics", ("run", "aggregate"))
SOURCE = Section("source and batching", ("run",))
SCORING = Section("scoring model and backends", ("run",))
AGGREGATION = Section("aggregation and spike detection", ("run", "aggregate"))
WEBHOOKS = Section("alert webhooks", ("run", "aggregate"))
WEBHOOK_DELIVERY = Section("webhook delivery from Kafka", ("aggregate",))
OBSERVABILITY = Section("metrics and logs", ("run", "aggregate"))
LABEL_INGEST = Section("labels from Kafka", ("scheduler", "labels-consume"))
RETRAINING = Section("retraining", ("retrain", "scheduler"))
SCHEDULE = Section("retraining schedule", ("scheduler",))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINSENT_", extra="ignore", validate_default=True)

    # --- Kafka connection -------------------------------------------------------------------------------
    kafka: Annotated[
        str | None,
        KAFKA.field(
            also=("produce", "scheduler", "labels-consume"),
            description="Kafka bootstrap servers HOST:PORT; unset = embedded mode (bundled sample feed)",
        ),
    ] = None
    kafka_session_timeout_ms: Annotated[
        int,
        KAFKA.field(
            ge=6_000,
            le=300_000,
            description="consumer-group session: a crashed member's partitions move after this long",
        ),
    ] = 10_000
    kafka_heartbeat_interval_ms: Annotated[
        int,
        KAFKA.field(
            ge=500, le=100_000, description="consumer-group heartbeat (at most a third of the session)"
        ),
    ] = 3_000
    kafka_group_instance_id: Annotated[
        str | None,
        KAFKA.field(
            description="static group membership: a stable id per replica (e.g. the pod name) lets a "
            "restarted replica take its partitions back at once; unset = dynamic membership"
        ),
    ] = None

    # --- Kafka security ---------------------------------------------------------------------------------
    kafka_security_protocol: Annotated[
        Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
        KAFKA_SECURITY.field(
            description="PLAINTEXT, SSL (TLS; mutual with a client certificate), SASL_PLAINTEXT, SASL_SSL"
        ),
    ] = "PLAINTEXT"
    kafka_ssl_cafile: Annotated[
        Path | None,
        KAFKA_SECURITY.field(
            description="PEM file of the CA(s) that sign the brokers' certificates; default: system CAs"
        ),
    ] = None
    kafka_ssl_certfile: Annotated[
        Path | None, KAFKA_SECURITY.field(description="client certificate (PEM), for mutual TLS")
    ] = None
    kafka_ssl_keyfile: Annotated[
        Path | None, KAFKA_SECURITY.field(description="client certificate's private key (PEM)")
    ] = None
    kafka_ssl_key_password: Annotated[
        SecretStr | None, KAFKA_SECURITY.field(description="password of an encrypted client key (secret)")
    ] = None
    kafka_ssl_check_hostname: Annotated[
        bool,
        KAFKA_SECURITY.field(
            description="check the broker certificate's host name (turn off only for tests)"
        ),
    ] = True
    kafka_sasl_mechanism: Annotated[
        Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None,
        KAFKA_SECURITY.field(
            description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (with a SASL protocol)"
        ),
    ] = None
    kafka_sasl_username: Annotated[
        str | None, KAFKA_SECURITY.field(description="SASL user (PLAIN and SCRAM)")
    ] = None
    kafka_sasl_password: Annotated[
        SecretStr | None, KAFKA_SECURITY.field(description="SASL password (secret)")
    ] = None
    kafka_sasl_oauth_token_file: Annotated[
        Path | None,
        KAFKA_SECURITY.field(description="OAUTHBEARER token file, re-read at every authentication"),
    ] = None

    # --- topics -----------------------------------------------------------------------------------------
    news_topic: Annotated[
        str, TOPICS.field(also=("produce",), description="input topic of NewsItem JSON")
    ] = "finsent.news"
    scored_topic: Annotated[str, TOPICS.field(description="output topic of ScoredItem JSON")] = (
        "finsent.scored"
    )
    dlq_topic: Annotated[str, TOPICS.field(description="dead-letter topic for rejected input")] = (
        "finsent.news.dlq"
    )
    topic_scores_topic: Annotated[
        str,
        TOPICS.field(
            description="per-topic scores (key = topic) written by the scorer, read by the aggregators"
        ),
    ] = "finsent.topic-scores"
    alerts_topic: Annotated[str, TOPICS.field(description="output topic of AlertEvent JSON")] = (
        "finsent.alerts"
    )
    webhook_dlq_topic: Annotated[
        str,
        TOPICS.field(
            description="alert deliveries that can never succeed (a 4xx, or too old), with the reason"
        ),
    ] = "finsent.alerts.dlq"
    partitions: Annotated[
        int,
        TOPICS.field(
            also=("produce", "scheduler", "labels-consume"),
            ge=1,
            le=1024,
            description="partitions of topics FinSent creates",
        ),
    ] = 6
    create_topics: Annotated[
        bool,
        TOPICS.field(
            also=("produce", "scheduler", "labels-consume"), description="create missing topics at start"
        ),
    ] = True

    # --- source and batching ----------------------------------------------------------------------------
    group_id: Annotated[str, SOURCE.field(description="consumer group of the scorers")] = "finsent-scorer"
    sample_feed: Annotated[
        Path | None,
        SOURCE.field(description="JSONL feed replayed in embedded mode; default: the bundled sample"),
    ] = None
    max_batch: Annotated[
        int, SOURCE.field(ge=1, le=10_000, description="most records scored together in one micro-batch")
    ] = 512  # chosen by the stream benchmark (bench/README.md)
    max_linger_ms: Annotated[
        int,
        SOURCE.field(
            ge=0,
            le=60_000,
            description="longest wait for a micro-batch to fill after its first record "
            "(longer only while the scorer is still busy with the batch before)",
        ),
    ] = 200
    max_message_bytes: Annotated[
        int, SOURCE.field(ge=1_024, description="larger input records go to the dead-letter topic")
    ] = 262_144
    dlq_payload_limit: Annotated[
        int,
        SOURCE.field(ge=0, description="bytes of a rejected record's payload kept on the dead-letter topic"),
    ] = 65_536
    dedup_size: Annotated[
        int, SOURCE.field(ge=0, description="ids remembered to drop duplicates (0 = off)")
    ] = 200_000
    dedup_ttl_s: Annotated[float, SOURCE.field(gt=0, description="how long an id is remembered")] = 3_600.0
    event_time_max_future_s: Annotated[
        float,
        SOURCE.field(
            also=("aggregate",),
            ge=0,
            description="an item's event time may lie at most this far after its record's timestamp; "
            "later ones are clamped to it (and counted)",
        ),
    ] = 300.0
    event_time_max_past_s: Annotated[
        float,
        SOURCE.field(
            ge=0,
            description="an item's event time may lie at most this far before its record's timestamp; "
            "earlier ones are clamped to it (0 = no bound)",
        ),
    ] = 604_800.0
    produce_retries: Annotated[
        int,
        SOURCE.field(
            ge=0,
            le=1_000,
            description="failed deliveries in a row after which the scorer exits (0 = never: it retries "
            "with backoff and a new producer, reporting not ready, until the broker is back)",
        ),
    ] = 0
    scored_include_text: Annotated[
        bool, SOURCE.field(description="copy the input text onto ScoredItem (off: scored records stay small)")
    ] = False
    progress_s: Annotated[
        float,
        SOURCE.field(ge=0, description="seconds between progress lines in the log (counts, lag); 0 = off"),
    ] = 30.0

    # --- scoring model and backends ---------------------------------------------------------------------
    triton: Annotated[
        str | None,
        SCORING.field(description="Triton gRPC HOST:PORT; unset = the embedded ONNX Runtime backend"),
    ] = None
    triton_model: Annotated[
        str | None, SCORING.field(description="model name on Triton; default: model_name")
    ] = None
    triton_timeout_s: Annotated[float, SCORING.field(gt=0, description="timeout of one Triton request")] = (
        10.0
    )
    triton_retries: Annotated[
        int, SCORING.field(ge=0, le=10, description="retries of a failed Triton request")
    ] = 3
    triton_concurrency: Annotated[
        int, SCORING.field(ge=1, le=64, description="Triton requests in flight")
    ] = 4
    triton_ssl: Annotated[bool, SCORING.field(description="gRPC to Triton over TLS")] = False
    triton_ssl_cafile: Annotated[
        Path | None, SCORING.field(description="PEM CA of Triton's certificate (TLS; default: system CAs)")
    ] = None
    triton_ssl_certfile: Annotated[
        Path | None, SCORING.field(description="client certificate, for mutual TLS")
    ] = None
    triton_ssl_keyfile: Annotated[
        Path | None, SCORING.field(description="client certificate's private key")
    ] = None
    model_repo: Annotated[
        Path,
        SCORING.field(also=("retrain", "scheduler", "rollback"), description="the Triton model repository"),
    ] = Path("model_repo")
    model_name: Annotated[
        str,
        SCORING.field(
            also=("retrain", "scheduler", "rollback"), description="model name inside the model repository"
        ),
    ] = "finsent_sentiment"
    max_length: Annotated[
        int,
        SCORING.field(
            also=("retrain", "scheduler"), ge=8, le=512, description="tokens per text (longer is truncated)"
        ),
    ] = DEFAULT_MAX_LENGTH
    infer_batch: Annotated[
        int,
        SCORING.field(
            ge=1, le=1_024, description="texts per inference call (length-sorted, padded to the longest)"
        ),
    ] = 16  # chosen by the inference benchmark (bench/README.md)
    threads: Annotated[
        int,
        SCORING.field(
            ge=0, description="inference threads, each scoring its own chunk of texts; 0 = one per core"
        ),
    ] = 0
    install_model: Annotated[
        bool,
        SCORING.field(
            description="install the shipped model as version 1 when the model repository has none "
            "(off: a repository without a version is an error)"
        ),
    ] = True
    model_poll_s: Annotated[
        float, SCORING.field(ge=0, description="how often to look for a newer model version (0 = never)")
    ] = 30.0
    entities: Annotated[
        Path | None,
        SCORING.field(
            description="entity dictionary JSON (ticker, aliases, sector); default: the bundled starter"
        ),
    ] = None

    # --- aggregation and spike detection ----------------------------------------------------------------
    aggregate_group_id: Annotated[str, AGGREGATION.field(description="consumer group of the aggregators")] = (
        "finsent-aggregator"
    )
    windows: Annotated[
        str, AGGREGATION.field(description="sliding windows, comma-separated (units s, m, h, d)")
    ] = "5m,1h,24h"
    aggregate_allowed_lateness: Annotated[
        str,
        AGGREGATION.field(
            description="how far out of event-time order a partition's items may arrive and change no "
            "alert: a minute is assessed once every partition has delivered this far past it (later "
            "items are late data, re-assessing the minutes they change); 0s = assess at the newest item"
        ),
    ] = "60s"
    topic_allow: Annotated[
        str, AGGREGATION.field(description="topics that always get their own metrics label, comma-separated")
    ] = ""
    max_topic_labels: Annotated[
        int,
        AGGREGATION.field(
            ge=0,
            le=10_000,
            description='further topics labelled in metrics before the rest count as topic="other"',
        ),
    ] = 50
    max_topics: Annotated[
        int, AGGREGATION.field(ge=1, description="topics held in memory (idle ones evicted first)")
    ] = 10_000
    spike_window: Annotated[str, AGGREGATION.field(description="window tested for a negative spike")] = "5m"
    spike_baseline_window: Annotated[
        str, AGGREGATION.field(description="window before it that sets the baseline")
    ] = "6h"
    spike_min_volume: Annotated[
        int, AGGREGATION.field(ge=1, description="fewest items in the spike window to fire")
    ] = 10
    spike_z: Annotated[float, AGGREGATION.field(gt=0, description="z-score to fire")] = 5.0
    spike_z_resolve: Annotated[
        float,
        AGGREGATION.field(
            description="z-score (of the resolve window, against the frozen baseline) "
            "under which a spike may resolve"
        ),
    ] = 1.5
    spike_min_delta: Annotated[
        float,
        AGGREGATION.field(ge=0, le=1, description="negative share must exceed the baseline by at least this"),
    ] = 0.3
    spike_cooldown: Annotated[
        str, AGGREGATION.field(description="a re-fire this soon after a resolve re-opens the same alert")
    ] = "15m"
    spike_long_window: Annotated[
        str, AGGREGATION.field(description="a second, longer entry window for slower bursts")
    ] = "20m"
    spike_sequential_llr: Annotated[
        float,
        AGGREGATION.field(
            ge=0,
            description="evidence (log-likelihood ratio) at which the sequential (CUSUM) test fires, "
            "on a topic of up to 20 items an hour; busier topics need log(rate/20) more (0 = the test off)",
        ),
    ] = 7.0
    spike_resolve_window: Annotated[
        str,
        AGGREGATION.field(
            description="window that must be back near the frozen baseline for a spike to resolve"
        ),
    ] = "10m"
    spike_max_alert: Annotated[
        str,
        AGGREGATION.field(
            description="continuous alert after which the topic is re-baselined (a new normal)"
        ),
    ] = "6h"
    story_similarity: Annotated[
        float,
        AGGREGATION.field(
            ge=0,
            le=1,
            description="one story counts once: an item this similar (words and word pairs) to one its "
            "topic has counted within the story horizon is a copy (0 = off: every item counts; "
            "1 = exact copies only)",
        ),
    ] = 0.8
    story_horizon: Annotated[
        str, AGGREGATION.field(description="how long a story is remembered to tell copies")
    ] = "6h"
    event_detector: Annotated[
        bool,
        AGGREGATION.field(
            description="also detect spikes per (topic, event type), with a model that has an event head; "
            "the other spike settings apply, with its own volume floor"
        ),
    ] = False
    event_detector_min_volume: Annotated[
        int,
        AGGREGATION.field(
            ge=1, description="fewest items of one (topic, event type) in the spike window to fire"
        ),
    ] = 8

    # --- alert webhooks ---------------------------------------------------------------------------------
    webhook_urls: Annotated[str, WEBHOOKS.field(description="alert webhooks, comma-separated URLs")] = ""
    webhook_secret: Annotated[
        SecretStr | None,
        WEBHOOKS.field(description="HMAC-SHA256 key for the X-FinSent-Signature header (never logged)"),
    ] = None
    webhook_max_queue: Annotated[
        int, WEBHOOKS.field(ge=1, description="alert deliveries held before the oldest is dropped")
    ] = 1_000
    webhook_max_attempts: Annotated[
        int,
        WEBHOOKS.field(
            ge=1, le=20, description="tries per webhook delivery (embedded mode's in-memory sender)"
        ),
    ] = 5

    # --- webhook delivery from Kafka --------------------------------------------------------------------
    webhook_group_id: Annotated[
        str, WEBHOOK_DELIVERY.field(description="consumer group that delivers webhooks from the alerts topic")
    ] = "finsent-webhooks"
    webhook_max_age: Annotated[
        str,
        WEBHOOK_DELIVERY.field(
            description="an alert not delivered within this long after it was raised is dead-lettered"
        ),
    ] = "24h"
    webhook_backoff_max: Annotated[
        str, WEBHOOK_DELIVERY.field(description="longest wait between retries of a failing webhook receiver")
    ] = "5m"

    # --- metrics and logs -------------------------------------------------------------------------------
    metrics_port: Annotated[
        int, OBSERVABILITY.field(ge=0, le=65_535, description="Prometheus metrics port (0 = off)")
    ] = 9464
    aggregate_metrics_port: Annotated[
        int, OBSERVABILITY.field(ge=0, le=65_535, description="metrics port of `finsent aggregate` (0 = off)")
    ] = 9465
    metrics_addr: Annotated[
        str, OBSERVABILITY.field(also=("scheduler",), description="address the metrics server binds")
    ] = "127.0.0.1"
    log_level: Annotated[
        str,
        OBSERVABILITY.field(
            also=("produce", "retrain", "scheduler", "rollback", "labels", "labels-consume"),
            description="DEBUG, INFO, WARNING or ERROR",
        ),
    ] = "INFO"

    # --- labels from Kafka ------------------------------------------------------------------------------
    labels_topic: Annotated[
        str, LABEL_INGEST.field(description="input topic of analysts' LabelEvent JSON")
    ] = "finsent.labels"
    labels_dlq_topic: Annotated[
        str, LABEL_INGEST.field(description="dead-letter topic for rejected label events")
    ] = "finsent.labels.dlq"
    labels_group_id: Annotated[
        str, LABEL_INGEST.field(description="consumer group of the label ingesters")
    ] = "finsent-labels"

    # --- retraining -------------------------------------------------------------------------------------
    retrain_dir: Annotated[
        Path,
        RETRAINING.field(
            also=("rollback", "labels", "labels-consume"),
            description="retraining state: label store, run ledger, reports, checkpoints, locks",
        ),
    ] = Path("retrain_state")
    retrain_golden: Annotated[
        str,
        RETRAINING.field(
            description="comma-separated labelled files: the fixed golden set runs are judged on"
        ),
    ] = ""
    retrain_data: Annotated[
        str,
        RETRAINING.field(description="comma-separated labelled files trained on beside the stored labels"),
    ] = ""
    retrain_plan: Annotated[
        Literal["auto", "student", "teacher-student"],
        RETRAINING.field(
            description="auto: teacher then distilled student where torch sees a GPU, else the student"
        ),
    ] = "auto"
    retrain_base: Annotated[
        str,
        RETRAINING.field(
            description="the student's base when there is no serving version to warm-start from"
        ),
    ] = "minilm"
    retrain_teacher_base: Annotated[
        str, RETRAINING.field(description="the teacher's base (teacher-student plan)")
    ] = "mpnet"
    retrain_warm_start: Annotated[
        bool, RETRAINING.field(description="continue from the serving version's weights (else from the base)")
    ] = True
    retrain_epochs: Annotated[
        int, RETRAINING.field(ge=1, le=100, description="epochs per retraining run")
    ] = 3
    retrain_lr: Annotated[
        float, RETRAINING.field(gt=0, lt=1, description="peak learning rate of a retraining run")
    ] = 5e-5
    retrain_batch_size: Annotated[
        int, RETRAINING.field(ge=1, le=4_096, description="training batch size")
    ] = 32
    retrain_max_steps: Annotated[
        int | None, RETRAINING.field(ge=1, description="stop training after this many steps (smoke runs)")
    ] = None
    retrain_device: Annotated[str, RETRAINING.field(description="auto, cpu, cuda or cuda:N")] = "auto"
    retrain_max_macro_f1_drop: Annotated[
        float,
        RETRAINING.field(ge=0, le=1, description="promote only if golden macro-F1 falls by at most this"),
    ] = 0.005
    retrain_max_class_f1_drop: Annotated[
        float,
        RETRAINING.field(ge=0, le=1, description="... and no class's golden F1 falls by more than this"),
    ] = 0.02
    retrain_holdout_fraction: Annotated[
        float,
        RETRAINING.field(ge=0, lt=1, description="share of the newest labels held out to compare models on"),
    ] = 0.2
    retrain_holdout_min: Annotated[
        int,
        RETRAINING.field(ge=1, description="fewer held-out labels than this: no newest-labels comparison"),
    ] = 30
    retrain_keep_versions: Annotated[
        int,
        RETRAINING.field(
            ge=1, le=1_000, description="model versions kept in the repository (older are removed)"
        ),
    ] = 5

    # --- retraining schedule ----------------------------------------------------------------------------
    retrain_min_new_labels: Annotated[
        int, SCHEDULE.field(ge=0, description="a scheduled run trains only after this many new labels")
    ] = 50
    retrain_cron: Annotated[
        str, SCHEDULE.field(description="when the scheduler runs retraining: a crontab line (UTC)")
    ] = "0 3 * * *"
    retrain_interval: Annotated[
        str | None, SCHEDULE.field(description="instead of the cron line: every this long, e.g. 6h")
    ] = None
    retrain_misfire_grace: Annotated[
        str, SCHEDULE.field(description="a run missed while the scheduler was down still runs if this late")
    ] = "6h"
    retrain_metrics_port: Annotated[
        int, SCHEDULE.field(ge=0, le=65_535, description="the scheduler's Prometheus metrics port (0 = off)")
    ] = 9467

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
# Read from the fields' sections; a command's flags (and `--help`) are its sections' fields and the
# fields that name it in `also`. The environment still sets any field for any command: one object,
# one place per default.
SECTIONS: tuple[Section, ...] = (
    KAFKA,
    KAFKA_SECURITY,
    TOPICS,
    SOURCE,
    SCORING,
    AGGREGATION,
    WEBHOOKS,
    WEBHOOK_DELIVERY,
    OBSERVABILITY,
    LABEL_INGEST,
    RETRAINING,
    SCHEDULE,
)


def _section_of(name: str) -> tuple[str, tuple[str, ...]]:
    extra = Settings.model_fields[name].json_schema_extra
    assert isinstance(extra, dict), f"setting {name} is not declared in a section"
    return str(extra["section"]), tuple(extra["also"])  # type: ignore[arg-type]


GROUPS: dict[str, tuple[str, ...]] = {
    s.title: tuple(n for n in Settings.model_fields if _section_of(n)[0] == s.title) for s in SECTIONS
}
COMMANDS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [c for s in SECTIONS for c in s.commands]
        + [c for n in Settings.model_fields for c in _section_of(n)[1]]
    )
)


def command_fields(command: str) -> dict[str, list[str]]:
    """{group title: field names} for a command, sections in declaration order, fields in theirs."""
    takes_all = {s.title for s in SECTIONS if command in s.commands}
    out: dict[str, list[str]] = {}
    for name in Settings.model_fields:
        section, also = _section_of(name)
        if section in takes_all or command in also:
            out.setdefault(section, []).append(name)
    return out
