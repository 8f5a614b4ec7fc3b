"""FinSent against a real secured broker (the same Apache Kafka 4.x, started by kafka.sh with a
SASL_SSL listener and a mutual-TLS listener, throw-away certificates and a SCRAM user): the scorer
and the aggregator run end to end through SASL_SSL, the scorer through mutual TLS; a wrong password,
an untrusted CA, a plaintext client on the TLS port and a client without a certificate on the
mutual-TLS listener each stop at start with the setting to fix; no secret appears in any log or
metrics page of the run."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from finsent.kafka.client import API_VERSION, ensure_topics
from support.broker import REPO, Broker, secured_broker
from support.chaos import aggregator, key_of, now_utc, scorer, wait_for
from support.kafka import committed_total, consume, fresh_topics, news, produce
from support.scenarios import alert_event, news_hour
from support.stack import WebhookReceiver

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = secured_broker(tmp_path_factory.getbasetemp())
    b.run("start")
    yield b
    b.run("stop")


def sasl_env(b: Broker, **overrides: str) -> dict[str, str]:
    """SCRAM-SHA-512 over TLS, the password from a file (as an orchestrator mounts it)."""
    return {
        "FINSENT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FINSENT_KAFKA_SSL_CAFILE": str(b.secrets / "tls" / "ca.pem"),
        "FINSENT_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "FINSENT_KAFKA_SASL_USERNAME": "finsent",
        "FINSENT_KAFKA_SASL_PASSWORD_FILE": str(b.secrets / "sasl-password"),
        **overrides,
    }


def mtls_env(b: Broker) -> dict[str, str]:
    tls = b.secrets / "tls"
    return {
        "FINSENT_KAFKA_SECURITY_PROTOCOL": "SSL",
        "FINSENT_KAFKA_SSL_CAFILE": str(tls / "ca.pem"),
        "FINSENT_KAFKA_SSL_CERTFILE": str(tls / "client.pem"),
        "FINSENT_KAFKA_SSL_KEYFILE": str(tls / "client.key"),
    }


def secrets_of(b: Broker) -> list[str]:
    return [
        (b.secrets / "sasl-password").read_text().strip(),
        (b.secrets / "tls" / "store-password").read_text().strip(),
        (b.secrets / "tls" / "client.key").read_text().splitlines()[1],  # a line of the private key
    ]


def end_total(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, api_version=API_VERSION)
    try:
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
        return sum(c.end_offsets(tps).values())
    finally:
        c.close()


def test_scorer_and_aggregator_run_end_to_end_over_sasl_ssl(broker, model_repo, tmp_path):
    t = fresh_topics(broker.bootstrap)  # set-up and checks through the PLAINTEXT listener
    by_topic = t.news + ".by-topic"
    ensure_topics(broker.bootstrap, [by_topic, t.news + ".alerts", t.news + ".alerts.dlq"], 6)
    messages = news_hour(now_utc() - timedelta(minutes=65))[:300]
    env = sasl_env(broker)
    rx = WebhookReceiver()
    webhook_secret = tmp_path / "webhook-secret"
    webhook_secret.write_text("webhook-signing-key-not-to-leak\n")
    # DEBUG: FinSent's own most talkative level must not leak a secret either.
    s = scorer(
        broker.sasl_ssl_bootstrap, t, model_repo, tmp_path / "scorer.log", "--log-level", "DEBUG", env=env
    )
    a = aggregator(
        broker.sasl_ssl_bootstrap,
        t,
        model_repo,
        tmp_path / "aggregator.log",
        "--log-level",
        "DEBUG",
        "--webhook-urls",
        rx.url("/hook"),
        env={**env, "FINSENT_WEBHOOK_SECRET_FILE": str(webhook_secret)},
    )
    pages = []
    try:
        produce(broker.bootstrap, t.news, messages, keys=[key_of(m) for m in messages])
        wait_for(
            lambda: committed_total(broker.bootstrap, t.group, t.news) >= len(messages), 180, 0.5, "scoring"
        )
        scored = consume(broker.bootstrap, t.scored, expect=len(messages), timeout_s=30)
        assert {json.loads(r.value)["id"] for r in scored} == {json.loads(m)["id"] for m in messages}
        produced = end_total(broker.bootstrap, by_topic)
        assert produced >= len(messages)  # each item has at least one topic
        wait_for(
            lambda: committed_total(broker.bootstrap, t.group + "-agg", by_topic) >= produced,
            120,
            0.5,
            "the aggregator to read every topic score",
        )
        assert s.metrics()["finsent_scorer_ready"] == 1
        # The webhook dispatcher's consumer and producer go through SASL_SSL too.
        produce(broker.bootstrap, t.news + ".alerts", [alert_event("sec-1", now_utc())])
        wait_for(
            lambda: [h for h in rx.on("/hook") if h.json()["alert_id"] == "sec-1"], 60, 0.3, "the webhook"
        )
        assert all(h.headers.get("X-FinSent-Signature") for h in rx.on("/hook"))  # every delivery signed
        counted = sum(v for k, v in a.metrics().items() if k.startswith("finsent_topic_items_total{"))
        assert counted >= len(messages)  # the aggregator counted every item under its topics
        for p in (s, a):
            pages.append(httpx.get(f"http://127.0.0.1:{p.metrics_port}/metrics", timeout=5).text)
    finally:
        s.stop()
        a.stop()
    everything = s.output() + a.output() + "".join(pages)
    for secret in [*secrets_of(broker), "webhook-signing-key-not-to-leak"]:
        assert secret not in everything
    rx.close()


def test_scorer_runs_over_mutual_tls(broker, model_repo, tmp_path):
    t = fresh_topics(broker.bootstrap)
    ensure_topics(broker.bootstrap, [t.news + ".by-topic"], 6)
    messages = [news(f"m{i}") for i in range(50)]
    s = scorer(broker.mtls_bootstrap, t, model_repo, tmp_path / "scorer.log", env=mtls_env(broker))
    try:
        produce(broker.bootstrap, t.news, messages)
        assert len(consume(broker.bootstrap, t.scored, expect=50, timeout_s=120)) == 50
    finally:
        s.stop()
    for secret in secrets_of(broker):
        assert secret not in s.output()


def other_ca(tmp: Path) -> Path:
    subprocess.run([REPO / "deploy" / "kafka" / "test-certs.sh", tmp / "other"], check=True)
    return tmp / "other" / "ca.pem"


CASES = {
    "wrong password": ("sasl", {"FINSENT_KAFKA_SASL_PASSWORD_FILE": "WRONG"}, "FINSENT_KAFKA_SASL_PASSWORD"),
    "untrusted CA": ("sasl", {"FINSENT_KAFKA_SSL_CAFILE": "OTHER_CA"}, "FINSENT_KAFKA_SSL_CAFILE"),
    "plaintext client on the TLS port": ("sasl", "PLAINTEXT", "to SSL or SASL_SSL"),
    "no client certificate on mutual TLS": ("mtls", "NO_CERT", "FINSENT_KAFKA_SSL_CERTFILE"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_security_failures_stop_at_start_with_the_setting_to_fix(broker, tmp_path, case):
    listener, change, names = CASES[case]
    if listener == "sasl":
        bootstrap, env = broker.sasl_ssl_bootstrap, sasl_env(broker)
    else:
        bootstrap, env = broker.mtls_bootstrap, mtls_env(broker)
    if change == "PLAINTEXT":
        env = {}
    elif change == "NO_CERT":
        env = {k: v for k, v in env.items() if "CERTFILE" not in k and "KEYFILE" not in k}
    else:
        for key, value in change.items():
            if value == "WRONG":
                (tmp_path / "wrong").write_text("not-the-password\n")
                env[key] = str(tmp_path / "wrong")
            elif value == "OTHER_CA":
                env[key] = str(other_ca(tmp_path))
    (tmp_path / "one.jsonl").write_bytes(news("x") + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "finsent.cli", "produce", "--kafka", bootstrap, "--news-topic", "t.sec",
         "--no-create-topics", "--file", str(tmp_path / "one.jsonl")],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Kafka security" in done.stderr and names in done.stderr, done.stderr
    for secret in secrets_of(broker):
        assert secret not in done.stderr + done.stdout


def unsecured_jwt(subject: str, expires_in_s: int) -> str:
    """A token for Kafka's built-in unsecured OAUTHBEARER validator (alg "none"): the test broker's
    stand-in for an identity provider's signed token."""

    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return f"{part({'alg': 'none'})}.{part({'sub': subject, 'iat': now, 'exp': now + expires_in_s})}."


@pytest.mark.parametrize("expires_in_s", [3600, -3600], ids=["valid token", "expired token"])
def test_oauthbearer_token_from_a_file(broker, tmp_path, expires_in_s):
    token = tmp_path / "token"
    token.write_text(unsecured_jwt("finsent", expires_in_s) + "\n")
    t = fresh_topics(broker.bootstrap)
    (tmp_path / "one.jsonl").write_bytes(news("oauth-1") + b"\n")
    env = {
        "FINSENT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "FINSENT_KAFKA_SSL_CAFILE": str(broker.secrets / "tls" / "ca.pem"),
        "FINSENT_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
        "FINSENT_KAFKA_SASL_OAUTH_TOKEN_FILE": str(token),
    }
    done = subprocess.run(
        [sys.executable, "-m", "finsent.cli", "produce", "--kafka", broker.sasl_ssl_bootstrap,
         "--news-topic", t.news, "--no-create-topics", "--file", str(tmp_path / "one.jsonl")],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if expires_in_s > 0:
        assert done.returncode == 0, done.stderr
        assert [json.loads(r.value)["id"] for r in consume(broker.bootstrap, t.news, expect=1)] == ["oauth-1"]
    else:
        assert done.returncode == 2, done.stderr
        assert "OAUTHBEARER" in done.stderr and "FINSENT_KAFKA_SASL_OAUTH_TOKEN_FILE" in done.stderr
