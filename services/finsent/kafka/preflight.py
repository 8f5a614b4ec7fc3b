"""A start-up check of the Kafka connection's security, with an error that names the setting to fix.

kafka-python treats a refused password, an unknown CA or a plaintext client on a TLS port like an
unreachable broker: it retries until a timeout and says "Unable to bootstrap". To a risk team's SRE
that looks like an outage. Before FinSent builds its clients it opens one connection itself, with
the same TLS context and SASL mechanism the clients will use, makes one Kafka request (ApiVersions)
and, for SASL, authenticates; a failure that retrying cannot mend raises `KafkaSecurityError`. A
broker that cannot be reached at all is not a security error: the clients' own retries handle it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct

from kafka.net.sasl import get_sasl_mechanism

from finsent.kafka.security import KafkaConnection, KafkaSecurity, KafkaSecurityError, setting

log = logging.getLogger(__name__)

METADATA, API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 3, 18, 17, 36
METADATA_V4_NO_TOPICS = b"\x00\x00\x00\x00\x00"  # an empty topic list, no auto-creation
SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE = 58, 33, 34
# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH
NAME_MISMATCH = (62, 64)
MAX_RESPONSE_BYTES = 1 << 20
CLIENT_ID = b"finsent-preflight"


def check_connection(conn: KafkaConnection, timeout_s: float = 10.0) -> bool:
    """True when a bootstrap server accepted this connection's security; False when none could be
    reached (not a security problem). Raises KafkaSecurityError when one answered and refused."""
    for host, port in _servers(conn.bootstrap):
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            log.info("Kafka start-up check: %s:%d not reachable (%s)", host, port, exc)
            continue
        with sock:
            sock.settimeout(timeout_s)
            _check(sock, host, f"{host}:{port}", conn)
        return True
    return False


def _servers(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for part in bootstrap.split(","):
        host, _, port = part.strip().rpartition(":")
        out.append((host.strip("[]"), int(port)))
    return out


def _check(sock: socket.socket, host: str, where: str, conn: KafkaConnection) -> None:
    sec = conn.security
    stream: socket.socket = sock
    if sec.uses_tls:
        stream = _tls_handshake(sock, host, where, conn)
    try:
        _request(stream, API_VERSIONS, 0, b"")
    except ssl.SSLError as exc:  # TLS 1.3 reports a refused client certificate after the handshake
        raise _tls_refused(exc, where) from None
    except (OSError, EOFError) as exc:
        if sec.uses_tls:
            raise KafkaSecurityError(
                f"{where} closed a TLS connection before answering ({exc or type(exc).__name__}): "
                f"check {setting('security_protocol')} (is this listener SASL_SSL rather than SSL?)"
            ) from None
        raise KafkaSecurityError(
            f"{where} closed the connection before answering a plaintext request: the listener probably "
            f"expects TLS; set {setting('security_protocol')} to SSL or SASL_SSL (and "
            f"{setting('ssl_cafile')})"
        ) from None
    if sec.uses_sasl:
        _authenticate(stream, where, conn)
    # ApiVersions is answered before authentication; a metadata request is not. A client without SASL
    # on a SASL listener is disconnected here.
    try:
        _request(stream, METADATA, 4, METADATA_V4_NO_TOPICS)
    except (OSError, EOFError):
        if sec.uses_sasl:
            raise KafkaSecurityError(
                f"{where} closed the connection after authentication: the user may lack permission to "
                "describe the cluster (ACLs)"
            ) from None
        raise KafkaSecurityError(
            f"{where} closed the connection at the first request after the handshake: the listener "
            f"requires SASL; set {setting('security_protocol')} to SASL_SSL and {setting('sasl_mechanism')}"
        ) from None


def _tls_handshake(sock: socket.socket, host: str, where: str, conn: KafkaConnection) -> ssl.SSLSocket:
    ctx = conn.ssl_context
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        if exc.verify_code in NAME_MISMATCH:
            raise KafkaSecurityError(
                f"{where}: the broker's certificate is not valid for the host name {host!r} "
                f"({exc.verify_message}): connect with a name the certificate carries, or have it re-issued; "
                f"{setting('ssl_check_hostname')}=false turns the check off (never in production)"
            ) from None
        raise KafkaSecurityError(
            f"{where}: the broker's certificate is not trusted ({exc.verify_message}): set "
            f"{setting('ssl_cafile')} to the CA that signed it"
        ) from None
    except ssl.SSLError as exc:
        raise _tls_refused(exc, where) from None
    except (OSError, EOFError) as exc:
        raise KafkaSecurityError(
            f"{where} closed the connection during the TLS handshake ({exc or type(exc).__name__}): the "
            f"listener probably does not speak TLS; check {setting('security_protocol')} (PLAINTEXT or "
            f"SASL_PLAINTEXT?) and the port"
        ) from None


def _tls_refused(exc: ssl.SSLError, where: str) -> KafkaSecurityError:
    reason = (exc.reason or str(exc)).upper()
    if "WRONG_VERSION_NUMBER" in reason or "RECORD_LAYER" in reason or "EOF" in reason:
        return KafkaSecurityError(
            f"{where} does not speak TLS ({exc.reason}): the listener is probably PLAINTEXT or "
            f"SASL_PLAINTEXT; check {setting('security_protocol')} and the port"
        )
    if "CERTIFICATE" in reason or "UNKNOWN_CA" in reason or "HANDSHAKE_FAILURE" in reason:
        return KafkaSecurityError(
            f"{where} refused the TLS connection ({exc.reason}): the listener requires a client certificate "
            f"its CA trusts (mutual TLS): set {setting('ssl_certfile')} and {setting('ssl_keyfile')}"
        )
    return KafkaSecurityError(f"{where}: TLS failed ({exc.reason or exc}): check the ssl settings")


def _authenticate(stream: socket.socket, where: str, conn: KafkaConnection) -> None:
    sec = conn.security
    assert sec.sasl_mechanism is not None  # the model requires it for SASL protocols
    mechanism = sec.sasl_mechanism
    try:
        body = _request(stream, SASL_HANDSHAKE, 1, _string(mechanism))
    except (OSError, EOFError):
        raise KafkaSecurityError(
            f"{where} closed the connection at the SASL handshake: the listener does not take SASL; "
            f"check {setting('security_protocol')} (SSL or PLAINTEXT?)"
        ) from None
    try:
        error, offered = _handshake_response(body)
    except NotKafka as exc:
        raise KafkaSecurityError(
            f"{where}: the answer to the SASL handshake is not Kafka's ({exc})"
        ) from None
    if error == UNSUPPORTED_SASL_MECHANISM:
        raise KafkaSecurityError(
            f"{where} does not offer SASL {mechanism} (it offers {', '.join(offered) or 'none'}): "
            f"set {setting('sasl_mechanism')}"
        )
    if error == ILLEGAL_SASL_STATE:
        raise KafkaSecurityError(
            f"{where}: this listener does not take SASL: check {setting('security_protocol')} (SSL?)"
        )
    if error:
        raise KafkaSecurityError(f"{where}: SASL handshake refused (Kafka error code {error})")
    client = get_sasl_mechanism(mechanism)(**conn.client_kwargs())  # the clients' own SASL settings
    while not client.is_done():
        token = client.auth_bytes()
        try:
            error, message, server_token = _authenticate_response(
                _request(stream, SASL_AUTHENTICATE, 0, _bytes(token))
            )
        except (OSError, EOFError):
            raise _auth_failed(where, sec, "the broker closed the connection") from None
        if error:
            raise _auth_failed(where, sec, message or f"Kafka error code {error}")
        try:
            client.receive(server_token)
        except Exception as exc:  # e.g. a SCRAM server signature that does not verify
            raise _auth_failed(where, sec, f"{type(exc).__name__}") from None
    if not client.is_authenticated():
        raise _auth_failed(where, sec, "the broker did not confirm the authentication")


def _auth_failed(where: str, sec: KafkaSecurity, detail: str) -> KafkaSecurityError:
    if sec.sasl_mechanism == "OAUTHBEARER":
        fix = f"check the token in {setting('sasl_oauth_token_file')}"
    else:
        fix = f"check {setting('sasl_username')} and {setting('sasl_password')}"
    who = f" as {sec.sasl_username!r}" if sec.sasl_username else ""
    return KafkaSecurityError(
        f"{where}: SASL {sec.sasl_mechanism} authentication{who} failed ({detail}): {fix}"
    )


# --- the few Kafka protocol messages the check needs (request header v1, response header v0) ------
def _request(stream: socket.socket, api_key: int, version: int, body: bytes) -> bytes:
    correlation_id = api_key  # one request in flight at a time
    header = struct.pack(">hhih", api_key, version, correlation_id, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    stream.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _read(stream, 4))
    if not 4 <= size <= MAX_RESPONSE_BYTES:
        raise NotKafka(f"not a Kafka response (size {size})")
    response = _read(stream, size)
    if struct.unpack(">i", response[:4])[0] != correlation_id:
        raise NotKafka("not a Kafka response (correlation id)")
    return response[4:]


def _read(stream: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.recv(left)
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def _bytes(value: bytes) -> bytes:
    return struct.pack(">i", len(value)) + value


class NotKafka(EOFError):
    """The peer's answer is not the Kafka response expected: most often the wrong port or protocol."""


class _Reader:
    """Bounds-checked reads of a response body: anything short or inconsistent is NotKafka."""

    def __init__(self, body: bytes) -> None:
        self.body, self.at = body, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.body):
            raise NotKafka("truncated Kafka response")
        out = self.body[self.at : self.at + n]
        self.at += n
        return out

    def int16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def string(self) -> str | None:
        n = self.int16()
        return None if n == -1 else self.take(n).decode(errors="replace")

    def bytes_(self) -> bytes:
        n = self.int32()
        return b"" if n == -1 else self.take(n)


def _handshake_response(body: bytes) -> tuple[int, list[str]]:
    r = _Reader(body)
    error, count = r.int16(), r.int32()
    if count > len(body):  # each entry takes at least two bytes: a count past that is not Kafka
        raise NotKafka("implausible mechanism count")
    return error, [m or "" for m in (r.string() for _ in range(max(count, 0)))]


def _authenticate_response(body: bytes) -> tuple[int, str | None, bytes]:
    r = _Reader(body)
    return r.int16(), r.string(), r.bytes_()
