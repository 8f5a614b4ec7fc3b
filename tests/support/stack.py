"""Real Prometheus and Alertmanager processes, and a webhook receiver, for the alerting tests."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from support.process import Process

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout_s}s")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(Received(self.path, dict(self.headers), body, time.monotonic()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.server.shutdown()


def rules_for_test(dest: Path) -> list[Path]:
    """The deploy rule files, with `for:` durations cut to seconds so a test need not wait minutes.
    The expressions, labels and annotations are the shipped ones."""
    out = []
    for src in sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml")):
        text = src.read_text().replace("for: 1m", "for: 2s").replace("for: 2m", "for: 2s")
        text = text.replace("for: 10m", "for: 2s")
        path = dest / src.name
        path.write_text(text)
        out.append(path)
    return out


def start_prometheus(workdir: Path, targets: dict[str, str], alertmanager: str) -> tuple[Process, str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed (deploy/system-deps.sh installs it)"
    port = free_port()
    rules = rules_for_test(workdir)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rules],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in targets.items()
        ],
    }
    (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    proc = Process(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        workdir / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/-/ready")
    return proc, url


def start_alertmanager(workdir: Path, webhook_url: str) -> tuple[Process, str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    assert binary, "alertmanager is not installed (deploy/system-deps.sh installs it)"
    port = free_port()
    text = (REPO / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
    text = text.replace("http://alert-receiver:8080/alertmanager", webhook_url)
    text = text.replace("group_wait: 30s", "group_wait: 1s").replace("group_wait: 10s", "group_wait: 1s")
    (workdir / "alertmanager.yml").write_text(text)
    proc = Process(
        [
            binary,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        workdir / "alertmanager.log",
    )
    wait_http(f"http://127.0.0.1:{port}/-/ready")
    return proc, f"127.0.0.1:{port}"


def query(prom: str, expr: str) -> list[dict]:
    r = httpx.get(prom + "/api/v1/query", params={"query": expr}, timeout=10)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def scrape(url: str) -> dict[str, float]:
    """A /metrics page as {'name{labels}': value}."""
    out = {}
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out
