"""How FinSent authenticates to Kafka and encrypts the connection: TLS (server-verified, or mutual),
SASL (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) or both, for every client it creates.

The settings object fills a `KafkaSecurity` from the `FINSENT_KAFKA_*` settings; the field names
here are those settings without their `kafka_` prefix, so every error can name the setting to fix.
Secrets are `SecretStr`: they print as asterisks in reprs, logs and errors."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from kafka.net.sasl.oauth import AbstractTokenProvider
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


def setting(name: str) -> str:
    """How a user sets the KafkaSecurity field `name`: its environment variable, and its flag unless
    it is a secret (secrets are never flags: a command line is visible to every user of the host)."""
    env = f"FINSENT_KAFKA_{name.upper()}"
    if name in SECRET_FIELDS:
        return f"{env} (or {env}_FILE)"
    return f"{env} / --kafka-{name.replace('_', '-')}"


SECRET_FIELDS = ("ssl_key_password", "sasl_password")


class KafkaSecurityError(RuntimeError):
    """The connection to Kafka failed for a security reason (credentials, certificates, protocol):
    retrying cannot help, so FinSent stops at start with this message instead of looking like an
    outage. The message names the setting to fix and never holds a secret."""


class KafkaSecurity(BaseModel):
    model_config = ConfigDict(frozen=True)

    security_protocol: Protocol = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: Mechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_oauth_token_file: Path | None = None

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        problems = []
        if self.uses_sasl:
            if self.sasl_mechanism is None:
                problems.append(
                    f"{self.security_protocol} needs a SASL mechanism: set {setting('sasl_mechanism')}"
                )
            elif self.sasl_mechanism == "OAUTHBEARER":
                if self.sasl_oauth_token_file is None:
                    problems.append(f"OAUTHBEARER needs a token file: set {setting('sasl_oauth_token_file')}")
            else:
                if not self.sasl_username:
                    problems.append(
                        f"{self.sasl_mechanism} needs a user name: set {setting('sasl_username')}"
                    )
                if self.sasl_password is None:
                    problems.append(f"{self.sasl_mechanism} needs a password: set {setting('sasl_password')}")
        elif self.sasl_mechanism is not None:
            problems.append(
                f"a SASL mechanism is set but {setting('security_protocol')} is {self.security_protocol}; "
                "use SASL_SSL (or SASL_PLAINTEXT on a trusted network)"
            )
        tls_files = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
        if not self.uses_tls and any(getattr(self, f) for f in tls_files):
            problems.append(
                f"TLS files are set but {setting('security_protocol')} is {self.security_protocol}; "
                "use SSL or SASL_SSL"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            problems.append(
                f"mutual TLS needs both a certificate and its key: set {setting('ssl_certfile')} "
                f"and {setting('ssl_keyfile')}"
            )
        for name in (*tls_files, "sasl_oauth_token_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                problems.append(f"{setting(name)}: no readable file at {path}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context every client uses (and the start-up check tests): TLS 1.2 or newer, the
        broker's certificate verified against the CA file (or the system's CAs), its host name
        checked unless turned off, and the client certificate for mutual TLS."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = self.ssl_check_hostname
        try:
            if self.ssl_cafile is not None:
                ctx.load_verify_locations(cafile=str(self.ssl_cafile))
            else:
                ctx.load_default_certs()
        except (ssl.SSLError, OSError) as exc:
            raise KafkaSecurityError(f"{setting('ssl_cafile')}: not a PEM CA bundle ({exc})") from None
        if self.ssl_certfile is not None:
            password = self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
            try:
                ctx.load_cert_chain(str(self.ssl_certfile), str(self.ssl_keyfile), password=password)
            except (ssl.SSLError, OSError) as exc:
                raise KafkaSecurityError(
                    f"the client certificate or key cannot be loaded ({type(exc).__name__}: {exc.args[-1]}): "
                    f"check {setting('ssl_certfile')}, {setting('ssl_keyfile')} and "
                    f"{setting('ssl_key_password')}"
                ) from None
        return ctx


class FileTokenProvider(AbstractTokenProvider):
    """OAUTHBEARER token read from a file at every (re)authentication, so that a sidecar or an
    orchestrator refreshing the file refreshes the token."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def token(self) -> str:
        return self.path.read_text().strip()


PLAINTEXT = KafkaSecurity()


@dataclass(frozen=True)
class KafkaConnection:
    """Bootstrap servers with the security to reach them."""

    bootstrap: str
    security: KafkaSecurity = PLAINTEXT

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """One TLS context for every client of this connection (and the start-up check)."""
        return self.security.ssl_context()

    def client_kwargs(self) -> dict[str, Any]:
        """kafka-python's connection arguments for this connection."""
        sec = self.security
        out: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": sec.security_protocol,
        }
        if sec.uses_tls:
            out["ssl_context"] = self.ssl_context
        if sec.uses_sasl:
            out["sasl_mechanism"] = sec.sasl_mechanism
            if sec.sasl_mechanism == "OAUTHBEARER":
                assert sec.sasl_oauth_token_file is not None  # checked by the model
                out["sasl_oauth_token_provider"] = FileTokenProvider(sec.sasl_oauth_token_file)
            else:
                out["sasl_plain_username"] = sec.sasl_username
                password = sec.sasl_password
                out["sasl_plain_password"] = password.get_secret_value() if password else None
        return out


# What FinSent's Kafka code accepts for "where the broker is": an address (PLAINTEXT) or a connection.
Bootstrap = str | KafkaConnection


def as_connection(bootstrap: Bootstrap) -> KafkaConnection:
    return bootstrap if isinstance(bootstrap, KafkaConnection) else KafkaConnection(bootstrap)
