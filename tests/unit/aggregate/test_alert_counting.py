"""Only emitted alerts are counted: deriving alerts (as a rebuild does) counts nothing."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from finsent.aggregate.aggregator import Aggregator
from finsent.aggregate.detector import DetectorConfig
from finsent.aggregate.runner import AlertPublisher
from finsent.aggregate.topic_metrics import TopicMetrics
from finsent.app.wiring import count_alert
from support.scenarios import WINDOWS, burst_scenario


def test_alerts_total_counts_what_is_published_not_what_is_derived():
    reg = CollectorRegistry()
    metrics = TopicMetrics(reg, WINDOWS, set(), 50)
    alerts = Aggregator(WINDOWS, DetectorConfig(), metrics=metrics).apply(burst_scenario())
    assert alerts
    # Deriving alerts (as a rebuild does) counts nothing; publishing counts each event once.
    assert reg.get_sample_value("finsent_alerts_total", {"severity": "critical", "status": "firing"}) is None
    AlertPublisher(None, "alerts", None, on_emitted=count_alert(metrics)).publish(alerts[:1])
    a = alerts[0]
    assert reg.get_sample_value("finsent_alerts_total", {"severity": a.severity, "status": a.status}) == 1
