"""Kafka security settings without a broker: consistency checks, secrets from the environment or
files (never flags, never echoed), the TLS host-name check against a real local TLS server, and the
start-up check's parsers of broker responses under arbitrary bytes."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from finsent.cli import build_parser, main
from finsent.kafka.preflight import NotKafka, _authenticate_response, _handshake_response, check_connection
from finsent.kafka.security import KafkaConnection, KafkaSecurity, KafkaSecurityError
from finsent.settings import Settings

SECRET = "s3cr3t-Pa55word-that-must-not-leak"


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("not checked here")
    return path


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"security_protocol": "SASL_SSL"}, "FINSENT_KAFKA_SASL_MECHANISM"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "u"},
            "FINSENT_KAFKA_SASL_PASSWORD",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"},
            "FINSENT_KAFKA_SASL_OAUTH_TOKEN_FILE",
        ),
        ({"sasl_mechanism": "PLAIN"}, "FINSENT_KAFKA_SECURITY_PROTOCOL"),
        ({"security_protocol": "SSL", "ssl_certfile": "PEM"}, "FINSENT_KAFKA_SSL_KEYFILE"),
        ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "FINSENT_KAFKA_SSL_CAFILE"),
        ({"ssl_cafile": "PEM"}, "FINSENT_KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_inconsistent_security_settings_name_the_setting_to_fix(fields, names, pem):
    fields = {k: (pem if v == "PEM" else v) for k, v in fields.items()}
    with pytest.raises(ValidationError, match=names):
        KafkaSecurity(**fields)


def test_client_options_carry_tls_and_sasl_and_nothing_for_plaintext(tmp_path):
    ca = _make_ca(tmp_path, "ca")
    sec = KafkaSecurity(
        security_protocol="SASL_SSL",
        ssl_cafile=ca,
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="finsent",
        sasl_password=SecretStr(SECRET),
    )
    kwargs = KafkaConnection("h:9093", sec).client_kwargs()
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert kwargs["ssl_context"].check_hostname and kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert (kwargs["sasl_mechanism"], kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "finsent",
        SECRET,
    )
    assert SECRET not in repr(sec) and SECRET not in str(sec.model_dump())
    assert KafkaConnection("h:9092").client_kwargs() == {
        "bootstrap_servers": "h:9092",
        "security_protocol": "PLAINTEXT",
    }


# --- secrets: environment or file, never a flag, never echoed -------------------------------------
def test_secret_from_a_file_drops_the_trailing_newline(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text(SECRET + "\n")
    monkeypatch.setenv("FINSENT_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "pw"))
    assert Settings().kafka_sasl_password.get_secret_value() == SECRET


def test_secret_set_twice_or_unreadable_is_a_clear_error_without_the_value(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text(SECRET)
    monkeypatch.setenv("FINSENT_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "pw"))
    monkeypatch.setenv("FINSENT_KAFKA_SASL_PASSWORD", SECRET)
    with pytest.raises(ValidationError, match="not both") as err:
        Settings()
    assert SECRET not in str(err.value)
    monkeypatch.delenv("FINSENT_KAFKA_SASL_PASSWORD")
    monkeypatch.setenv("FINSENT_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="FINSENT_KAFKA_SASL_PASSWORD_FILE: cannot read"):
        Settings()


@pytest.mark.parametrize("flag", ["--kafka-sasl-password", "--kafka-ssl-key-password", "--webhook-secret"])
def test_secrets_are_not_flags(flag, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", flag, SECRET])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_help_names_the_secret_variables_and_shows_no_value(monkeypatch, capsys):
    monkeypatch.setenv("FINSENT_KAFKA_SASL_PASSWORD", SECRET)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    out = capsys.readouterr().out
    assert "FINSENT_KAFKA_SASL_PASSWORD[_FILE]" in out and "FINSENT_WEBHOOK_SECRET[_FILE]" in out
    assert SECRET not in out


def test_invalid_settings_error_does_not_repeat_a_secret(monkeypatch, capsys):
    monkeypatch.setenv("FINSENT_KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("FINSENT_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")  # no mechanism: invalid
    assert main(["produce", "--kafka", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "FINSENT_KAFKA_SASL_MECHANISM" in err and SECRET not in err


# --- TLS against a real local TLS server ----------------------------------------------------------
def _make_ca(tmp: Path, name: str) -> Path:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-keyout", str(tmp / f"{name}.key"), "-out", str(tmp / f"{name}.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp / f"{name}.pem"


def _server_cert(tmp: Path, san: str) -> tuple[Path, Path]:
    """A certificate for `san`, signed by a CA made here; returns (CA file, chain+key file)."""
    ca = _make_ca(tmp, "test-ca")
    subprocess.run(
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=server",
         "-keyout", str(tmp / "server.key"), "-out", str(tmp / "server.csr")],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp / "ext").write_text(f"subjectAltName={san}\n")
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(tmp / "server.csr"), "-CA", str(ca),
         "-CAkey", str(tmp / "test-ca.key"), "-CAcreateserial", "-days", "2",
         "-extfile", str(tmp / "ext"), "-out", str(tmp / "server.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return ca, tmp / "server.pem"


class TlsServer:
    """Accepts TLS connections on 127.0.0.1 with the given certificate, and nothing more."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass


def test_a_certificate_for_another_host_name_is_named_as_such(tmp_path):
    ca, cert = _server_cert(tmp_path, "DNS:kafka.example.internal")
    server = TlsServer(cert, tmp_path / "server.key")
    sec = KafkaSecurity(security_protocol="SSL", ssl_cafile=ca)
    with pytest.raises(KafkaSecurityError, match=re.escape("not valid for the host name '127.0.0.1'")) as err:
        check_connection(KafkaConnection(f"127.0.0.1:{server.port}", sec), timeout_s=5)
    assert "FINSENT_KAFKA_SSL_CHECK_HOSTNAME" in str(err.value)
    server.sock.close()


def test_a_certificate_from_another_ca_is_named_as_such(tmp_path):
    _, cert = _server_cert(tmp_path, "IP:127.0.0.1")
    other_ca = _make_ca(tmp_path, "other-ca")
    server = TlsServer(cert, tmp_path / "server.key")
    sec = KafkaSecurity(security_protocol="SSL", ssl_cafile=other_ca)
    with pytest.raises(KafkaSecurityError, match=r"not trusted.*FINSENT_KAFKA_SSL_CAFILE"):
        check_connection(KafkaConnection(f"127.0.0.1:{server.port}", sec), timeout_s=5)
    server.sock.close()


def test_an_unreachable_broker_is_not_a_security_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    assert check_connection(KafkaConnection(f"127.0.0.1:{port}"), timeout_s=2) is False


# --- the start-up check parses what a peer sends: arbitrary bytes give a result or NotKafka -------
@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_response_parsers_take_any_bytes(body):
    for parse in (_handshake_response, _authenticate_response):
        try:
            result = parse(body)
        except NotKafka:
            continue
        assert isinstance(result[0], int)
