"""The shipped Prometheus rules, their unit tests, the Alertmanager config and the dashboard file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "deploy" / "prometheus"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run deploy/system-deps.sh (the test command does)")
    return path


def test_promtool_check_rules():
    r = subprocess.run(
        [tool("promtool"), "check", "rules", *sorted(map(str, (PROM / "rules").glob("*.yml")))],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_rule_unit_tests():
    r = subprocess.run(
        [tool("promtool"), "test", "rules", "tests/finsent-rules.test.yml"],
        cwd=PROM,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_alertmanager_config_is_valid():
    r = subprocess.run(
        [tool("amtool"), "check-config", str(REPO / "deploy" / "alertmanager" / "alertmanager.yml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboard_file_is_current():
    """The committed dashboard is what make_dashboard.py generates."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_dashboard", REPO / "deploy" / "grafana" / "make_dashboard.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "finsent.json").read_text())
    assert committed == module.build()
    assert any(v["name"] == "topic" for v in committed["templating"]["list"])


def test_configuration_reference_documents_every_setting():
    """The configuration reference must not fall behind the settings object."""
    from finsent.settings import Settings

    reference = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [n for n in Settings.model_fields if f"`FINSENT_{n.upper()}`" not in reference]
    assert missing == []
