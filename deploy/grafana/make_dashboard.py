"""Writes dashboards/finsent.json (run: python deploy/grafana/make_dashboard.py).

The dashboard is generated so that its panels stay consistent; tests/integration/test_alerting_stack.py runs
every panel's query against a real Prometheus scraping a running FinSent."""

from __future__ import annotations

import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "finsent-prometheus"}
OUT = Path(__file__).resolve().parent / "dashboards" / "finsent.json"


def panel(
    pid: int,
    title: str,
    kind: str,
    targets: list[tuple[str, str]],
    x: int,
    y: int,
    w: int,
    h: int,
    unit: str = "short",
    description: str = "",
    **options: object,
) -> dict:
    p = {
        "id": pid,
        "title": title,
        "type": kind,
        "datasource": DS,
        "description": description,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(65 + i), "expr": expr, "legendFormat": legend, "datasource": DS}
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if options:
        p["options"] = options
    return p


def row(pid: int, title: str, y: int) -> dict:
    return {
        "id": pid,
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def build() -> dict:
    panels = [
        row(1, "Topic overview", 0),
        panel(
            2,
            "Active spike alerts",
            "table",
            [("finsent_topic_alert_state > 0", "{{topic}}")],
            0,
            1,
            8,
            8,
            description="Topics FinSent's detector holds in a spike (1 warning, 2 critical).",
        ),
        panel(
            3,
            "Negative share by topic (1h)",
            "bargauge",
            [('topk(15, finsent_topic_negative_share{window="1h"})', "{{topic}}")],
            8,
            1,
            8,
            8,
            unit="percentunit",
        ),
        panel(
            4,
            "Items per minute by topic",
            "timeseries",
            [("topk(10, sum by (topic) (rate(finsent_topic_items_total[5m]))) * 60", "{{topic}}")],
            16,
            1,
            8,
            8,
        ),
        panel(
            5,
            "Negative share (5m), busiest topics",
            "timeseries",
            [
                (
                    'finsent_topic_negative_share{window="5m"} and on (topic) '
                    'topk(10, finsent_topic_volume{window="1h"})',
                    "{{topic}}",
                )
            ],
            0,
            9,
            16,
            8,
            unit="percentunit",
        ),
        panel(
            29,
            "Negative items by event type (1h)",
            "bargauge",
            [
                (
                    "sort_desc(sum by (event_type) "
                    '(increase(finsent_items_scored_by_event_type_total{label="negative"}[1h])))',
                    "{{event_type}}",
                )
            ],
            16,
            9,
            8,
            8,
            description="What the negative news is about, all topics (a model with an event-type head).",
        ),
        row(6, "Topic: $topic", 17),
        panel(
            7,
            "Negative share vs baseline",
            "timeseries",
            [
                ('finsent_topic_negative_share{topic="$topic"}', "{{window}}"),
                ('finsent_topic_baseline_negative_share{topic="$topic"}', "baseline"),
            ],
            0,
            18,
            12,
            8,
            unit="percentunit",
        ),
        panel(
            8, "Spike z-score", "timeseries", [('finsent_topic_zscore{topic="$topic"}', "z")], 12, 18, 6, 8
        ),
        panel(
            9, "Alert state", "stat", [('finsent_topic_alert_state{topic="$topic"}', "state")], 18, 18, 6, 4
        ),
        panel(
            10,
            "Mean score (1h)",
            "stat",
            [('finsent_topic_mean_score{topic="$topic",window="1h"}', "mean")],
            18,
            22,
            6,
            4,
        ),
        panel(
            11,
            "Items by label",
            "timeseries",
            [('sum by (label) (rate(finsent_topic_items_total{topic="$topic"}[5m])) * 60', "{{label}}")],
            0,
            26,
            12,
            8,
        ),
        panel(
            12,
            "Window volumes",
            "stat",
            [('finsent_topic_volume{topic="$topic"}', "{{window}}")],
            12,
            26,
            6,
            8,
        ),
        panel(
            30,
            "Event mix (spike window)",
            "bargauge",
            [
                ('finsent_topic_event_type_items{topic="$topic"} > 0', "{{event_type}}"),
                ('finsent_topic_event_type_negative_items{topic="$topic"} > 0', "negative: {{event_type}}"),
            ],
            18,
            26,
            6,
            8,
            description="Items by event type in the spike window, for topics on FINSENT_TOPIC_ALLOW.",
        ),
        row(13, "Pipeline health", 34),
        panel(
            14,
            "Records consumed / scored per second",
            "timeseries",
            [
                ("sum(rate(finsent_records_consumed_total[5m]))", "consumed"),
                ("sum(rate(finsent_items_scored_total[5m]))", "scored"),
            ],
            0,
            35,
            8,
            8,
        ),
        panel(
            15,
            "Dead letters by reason",
            "timeseries",
            [("sum by (reason) (increase(finsent_records_rejected_total[5m]))", "{{reason}}")],
            8,
            35,
            8,
            8,
        ),
        panel(
            16,
            "Consumer lag",
            "timeseries",
            [("sum by (instance) (finsent_consumer_lag_records)", "{{instance}}")],
            16,
            35,
            8,
            8,
        ),
        panel(
            17,
            "Inference latency p50 / p95",
            "timeseries",
            [
                ("histogram_quantile(0.5, sum by (le) (rate(finsent_inference_seconds_bucket[5m])))", "p50"),
                ("histogram_quantile(0.95, sum by (le) (rate(finsent_inference_seconds_bucket[5m])))", "p95"),
            ],
            0,
            43,
            8,
            8,
            unit="s",
        ),
        panel(
            18,
            "Batch size p50",
            "timeseries",
            [("histogram_quantile(0.5, sum by (le) (rate(finsent_batch_size_bucket[5m])))", "p50")],
            8,
            43,
            8,
            8,
        ),
        panel(
            19,
            "Backend errors and readiness",
            "timeseries",
            [
                ("sum(increase(finsent_backend_errors_total[5m]))", "errors"),
                ("min(finsent_scorer_ready)", "ready"),
            ],
            16,
            43,
            8,
            8,
        ),
        panel(
            20,
            "Webhook deliveries",
            "timeseries",
            [("sum by (result) (increase(finsent_webhook_deliveries_total[15m]))", "{{result}}")],
            0,
            51,
            12,
            8,
        ),
        panel(21, "Model version", "table", [("finsent_model_info", "{{name}} v{{version}}")], 12, 51, 12, 8),
        row(22, "Retraining", 59),
        panel(
            23,
            "Retraining runs by outcome (1 day)",
            "timeseries",
            [("sum by (outcome) (increase(finsent_retrain_runs_total[1d]))", "{{outcome}}")],
            0,
            60,
            8,
            8,
            description="promoted, rejected (the gate kept the serving model), failed, abandoned, skipped",
        ),
        panel(
            24,
            "Golden-set macro-F1: serving vs last candidate",
            "timeseries",
            [("max by (role) (finsent_model_golden_macro_f1)", "{{role}}")],
            8,
            60,
            8,
            8,
            unit="percentunit",
        ),
        panel(
            25,
            "Labels: stored by label, and waiting for a run",
            "timeseries",
            [
                ("sum by (label) (finsent_labels_stored)", "{{label}}"),
                ("max(finsent_labels_pending)", "pending"),
            ],
            16,
            60,
            8,
            8,
        ),
        panel(
            26,
            "Since the last run that judged a candidate",
            "stat",
            [("time() - max(finsent_retrain_last_success_timestamp_seconds)", "age")],
            0,
            68,
            8,
            4,
            unit="s",
            description="FinSentModelStale fires after 7 days while labels wait",
        ),
        panel(
            27,
            "Failed runs in a row",
            "stat",
            [("max(finsent_retrain_consecutive_failures)", "failures")],
            8,
            68,
            8,
            4,
            description="FinSentRetrainFailing fires at 2",
        ),
        panel(
            28,
            "Mean run duration / serving version",
            "stat",
            [
                (
                    "sum(finsent_retrain_run_duration_seconds_sum)"
                    " / sum(finsent_retrain_run_duration_seconds_count)",
                    "mean run",
                ),
                ("max(finsent_model_serving_version)", "serving version"),
            ],
            16,
            68,
            8,
            4,
        ),
    ]
    return {
        "uid": "finsent-overview",
        "title": "FinSent",
        "tags": ["finsent", "sentiment"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "topic",
                    "label": "Topic",
                    "type": "query",
                    "datasource": DS,
                    "query": {"query": "label_values(finsent_topic_volume, topic)", "refId": "topics"},
                    "definition": "label_values(finsent_topic_volume, topic)",
                    "refresh": 2,
                    "sort": 1,
                    "includeAll": False,
                    "multi": False,
                }
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {OUT}")
