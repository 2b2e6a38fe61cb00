"""AMQPS: pika, aio-pika, kombu and py-amqp over TLS; EXTERNAL and AMQPLAIN logins."""

from __future__ import annotations

import logging
import re
import socket
import ssl
import time
import warnings
from pathlib import Path

import aio_pika
import amqp
import kombu
import pika
import pika.credentials
import pika.exceptions
import pytest

from leveret.server.tls import TLSConfigError

from .conftest import CLIENT_DN, Certs, ThreadedNode, tls_config

pytestmark = pytest.mark.leveret_only

WITH_EXTERNAL = ("PLAIN", "AMQPLAIN", "EXTERNAL")


def pika_params(
    broker: ThreadedNode,
    certs: Certs,
    *,
    with_cert: bool = True,
    credentials: pika.credentials.PlainCredentials
    | pika.credentials.ExternalCredentials
    | None = None,
) -> pika.ConnectionParameters:
    return pika.ConnectionParameters(
        "127.0.0.1",
        broker.ssl_port,
        credentials=credentials or pika.PlainCredentials("guest", "guest"),
        ssl_options=pika.SSLOptions(certs.client_context(with_cert=with_cert), "127.0.0.1"),
        connection_attempts=1,
        socket_timeout=5,
        blocked_connection_timeout=5,
    )


def round_trip(params: pika.ConnectionParameters, queue: str) -> bytes:
    conn = pika.BlockingConnection(params)
    try:
        ch = conn.channel()
        ch.queue_declare(queue, auto_delete=True)
        ch.basic_publish("", queue, b"over tls")
        _, _, body = ch.basic_get(queue, auto_ack=True)
        assert body is not None
        return body
    finally:
        conn.close()


def logged_in_users(broker: ThreadedNode) -> set[str]:
    return {c.user.name for c in list(broker.node.connections) if c.user is not None}


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("with_cert", [True, False], ids=["client-cert", "no-client-cert"])
def test_pika_over_tls(start_broker, certs: Certs, with_cert: bool) -> None:
    broker = start_broker()
    assert broker.ssl_port != broker.port
    assert round_trip(pika_params(broker, certs, with_cert=with_cert), "tls-pika") == b"over tls"


def test_plain_and_tls_listeners_serve_at_once(start_broker, certs: Certs) -> None:
    broker = start_broker()
    plain = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", broker.port))
    secure = pika.BlockingConnection(pika_params(broker, certs))
    try:
        plain_ch, secure_ch = plain.channel(), secure.channel()
        secure_ch.queue_declare("both-listeners", auto_delete=True)
        plain_ch.basic_publish("", "both-listeners", b"from plain")
        wait_for(
            lambda: secure_ch.queue_declare("both-listeners", passive=True).method.message_count
        )
        _, _, body = secure_ch.basic_get("both-listeners", auto_ack=True)
        assert body == b"from plain"
        kinds = {
            c.transport.get_extra_info("ssl_object") is not None
            for c in broker.node.connections
            if c.transport
        }
        assert kinds == {True, False}
    finally:
        plain.close()
        secure.close()


def test_listening_is_logged(start_broker, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="leveret.node"):
        broker = start_broker()
    assert f"AMQPS listening on 127.0.0.1:{broker.ssl_port}" in caplog.text


@pytest.mark.parametrize("with_cert", [True, False], ids=["client-cert", "no-client-cert"])
async def test_aio_pika_over_tls(start_broker, certs: Certs, with_cert: bool) -> None:
    broker = start_broker()
    conn = await aio_pika.connect(
        f"amqps://guest:guest@127.0.0.1:{broker.ssl_port}/",
        ssl_context=certs.client_context(with_cert=with_cert),
        timeout=5,
    )
    try:
        channel = await conn.channel()
        queue = await channel.declare_queue("tls-aio", auto_delete=True)
        await channel.default_exchange.publish(aio_pika.Message(b"aio over tls"), "tls-aio")
        message = await queue.get(timeout=5)
        assert message.body == b"aio over tls"
        await message.ack()
    finally:
        await conn.close()


@pytest.mark.parametrize("with_cert", [True, False], ids=["client-cert", "no-client-cert"])
def test_kombu_over_tls(start_broker, certs: Certs, with_cert: bool) -> None:
    broker = start_broker()
    with kombu.Connection(
        f"amqp://guest:guest@127.0.0.1:{broker.ssl_port}//",
        ssl=certs.amqp_sslopts(with_cert=with_cert),
        connect_timeout=5,
    ) as conn:
        queue = conn.SimpleQueue("tls-kombu")
        queue.put({"hello": "tls"})
        message = queue.get(timeout=5)
        assert message.payload == {"hello": "tls"}
        message.ack()
        queue.close()


def test_external_with_pika_logs_in_as_the_certificate_dn(start_broker, certs: Certs) -> None:
    broker = start_broker(auth_mechanisms=WITH_EXTERNAL)
    params = pika_params(broker, certs, credentials=pika.credentials.ExternalCredentials())
    conn = pika.BlockingConnection(params)
    try:
        assert conn.channel().is_open
        assert logged_in_users(broker) == {CLIENT_DN}
    finally:
        conn.close()


def test_external_with_kombu_and_common_name(start_broker, certs: Certs) -> None:
    broker = start_broker(auth_mechanisms=WITH_EXTERNAL, ssl_cert_login_from="common_name")
    with kombu.Connection(
        f"amqp://127.0.0.1:{broker.ssl_port}//",
        ssl=certs.amqp_sslopts(),
        login_method="EXTERNAL",
        connect_timeout=5,
    ) as conn:
        conn.connect()
        assert logged_in_users(broker) == {"client"}
        queue = conn.SimpleQueue("tls-external")
        queue.put("hi")
        assert queue.get(timeout=5).payload == "hi"
        queue.close()


def test_external_is_offered_only_when_configured_and_with_a_certificate(
    start_broker, certs: Certs
) -> None:
    def mechanisms(broker: ThreadedNode, *, with_cert: bool) -> list[bytes]:
        conn = amqp.Connection(
            f"127.0.0.1:{broker.ssl_port}",
            ssl=certs.amqp_sslopts(with_cert=with_cert),
            connect_timeout=5,
        )
        conn.connect()
        try:
            return list(conn.mechanisms)
        finally:
            conn.close()

    default = start_broker()
    assert mechanisms(default, with_cert=True) == [b"PLAIN", b"AMQPLAIN"]
    external = start_broker(auth_mechanisms=WITH_EXTERNAL)
    assert mechanisms(external, with_cert=True) == [b"PLAIN", b"AMQPLAIN", b"EXTERNAL"]
    assert mechanisms(external, with_cert=False) == [b"PLAIN", b"AMQPLAIN"]
    only_external = start_broker(auth_mechanisms=("EXTERNAL",))
    assert mechanisms(only_external, with_cert=True) == [b"EXTERNAL"]


def test_unknown_external_user_is_refused_with_403(
    start_broker, certs: Certs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = start_broker(auth_mechanisms=WITH_EXTERNAL)
    nobody = certs.ca.issue_cert("nobody.example", common_name="nobody")
    nobody.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    nobody.private_key_pem.write_to_path(tmp_path / "key.pem")
    context = ssl.create_default_context(cafile=str(certs.cafile))
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    params = pika.ConnectionParameters(
        "127.0.0.1",
        broker.ssl_port,
        credentials=pika.credentials.ExternalCredentials(),
        ssl_options=pika.SSLOptions(context, "127.0.0.1"),
        connection_attempts=1,
    )
    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(pika.exceptions.ProbableAuthenticationError) as refused,
    ):
        pika.BlockingConnection(params)
    assert time.monotonic() - started < 3
    assert "403" in str(refused.value) and "EXTERNAL" in str(refused.value)
    assert "EXTERNAL login refused" in caplog.text
    assert "CN=nobody" in caplog.text and "no such user" in caplog.text


def test_amqplain_with_py_amqp(start_broker) -> None:
    broker = start_broker()
    conn = amqp.Connection(
        f"127.0.0.1:{broker.port}", userid="guest", password="guest", login_method="AMQPLAIN"
    )
    conn.connect()
    try:
        ch = conn.channel()
        ch.queue_declare("amqplain", auto_delete=True)
        ch.basic_publish(amqp.Message("via amqplain"), routing_key="amqplain")
        message = ch.basic_get("amqplain", no_ack=True)
        assert message is not None and message.body == "via amqplain"
        assert logged_in_users(broker) == {"guest"}
    finally:
        conn.close()


def test_amqplain_wrong_password_is_refused(start_broker, caplog: pytest.LogCaptureFixture) -> None:
    broker = start_broker()
    conn = amqp.Connection(
        f"127.0.0.1:{broker.port}", userid="guest", password="nope", login_method="AMQPLAIN"
    )
    with caplog.at_level(logging.WARNING), pytest.raises(amqp.exceptions.AccessRefused):
        conn.connect()
    assert "AMQPLAIN login refused: user 'guest' - invalid credentials" in caplog.text


def test_missing_client_cert_with_fail_if_no_peer_cert_is_refused_quickly(
    start_broker, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    broker = start_broker(tls=tls_config(certs, fail_if_no_peer_cert=True))
    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING, logger="leveret.tls"),
        pytest.raises(pika.exceptions.AMQPConnectionError),
    ):
        pika.BlockingConnection(pika_params(broker, certs, with_cert=False))
    assert time.monotonic() - started < 3
    wait_for(lambda: "TLS handshake with 127.0.0.1" in caplog.text)
    assert "certificate" in caplog.text
    assert not broker.node.connections
    # With a certificate the same listener lets the client in.
    assert round_trip(pika_params(broker, certs), "with-cert") == b"over tls"


def test_certificate_from_an_untrusted_ca_is_refused(
    start_broker, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    broker = start_broker()
    context = certs.client_context(stranger=True)
    with (
        caplog.at_level(logging.WARNING, logger="leveret.tls"),
        pytest.raises(pika.exceptions.AMQPConnectionError),
    ):
        params = pika_params(broker, certs)
        params.ssl_options = pika.SSLOptions(context, "127.0.0.1")
        pika.BlockingConnection(params)
    wait_for(lambda: "TLS handshake with 127.0.0.1" in caplog.text)
    assert "certificate verify failed" in caplog.text


def _handshake(port: int, cafile: Path, version: ssl.TLSVersion) -> str:
    context = ssl.create_default_context(cafile=str(cafile))
    with warnings.catch_warnings():  # the ssl module deprecates the old versions
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = version
    # OpenSSL's default security level would stop the client itself from offering
    # TLS 1.1; lowered so the refusal tested is the broker's.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version() or ""


def test_tls_1_1_and_lower_are_refused_by_default(
    start_broker, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    broker = start_broker()
    assert _handshake(broker.ssl_port, certs.cafile, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    for old in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
        with caplog.at_level(logging.WARNING, logger="leveret.tls"), pytest.raises(ssl.SSLError):
            _handshake(broker.ssl_port, certs.cafile, old)
    wait_for(lambda: "TLS handshake with 127.0.0.1" in caplog.text)


def test_missing_certificate_file_is_a_clear_error(
    start_broker, certs: Certs, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(
        TLSConfigError, match=re.escape(f"ssl_options.certfile: cannot read {missing}")
    ):
        start_broker(tls=tls_config(certs, certfile=missing))


def test_key_that_does_not_match_the_certificate_is_a_clear_error(
    start_broker, certs: Certs
) -> None:
    with pytest.raises(TLSConfigError) as error:
        start_broker(tls=tls_config(certs, keyfile=certs.client_key))
    assert str(certs.certfile) in str(error.value) and str(certs.client_key) in str(error.value)
    assert "mismatch" in str(error.value)


def _encrypted_key(certs: Certs, folder: Path, password: bytes) -> Path:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs.keyfile.read_bytes(), password=None)
    path = folder / "encrypted-key.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
    )
    return path


def test_encrypted_key_with_its_password(start_broker, certs: Certs, tmp_path: Path) -> None:
    keyfile = _encrypted_key(certs, tmp_path, b"s3cret")
    broker = start_broker(tls=tls_config(certs, keyfile=keyfile, password="s3cret"))
    assert round_trip(pika_params(broker, certs), "encrypted-key") == b"over tls"
    with pytest.raises(TLSConfigError) as error:
        start_broker(tls=tls_config(certs, keyfile=keyfile, password="wrong"))
    assert str(keyfile) in str(error.value)
    assert "s3cret" not in str(error.value) and "wrong" not in str(error.value)


def test_configured_versions_and_ciphers_are_applied(start_broker, certs: Certs) -> None:
    broker = start_broker(
        tls=tls_config(certs, versions=("tlsv1.2",), ciphers=("ECDHE-ECDSA-AES128-GCM-SHA256",))
    )
    context = ssl.create_default_context(cafile=str(certs.cafile))
    with (
        socket.create_connection(("127.0.0.1", broker.ssl_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.2"
        cipher = tls.cipher()
        assert cipher is not None and cipher[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
    with pytest.raises(TLSConfigError, match=r"ssl_options\.ciphers"):
        start_broker(tls=tls_config(certs, ciphers=("NO-SUCH-CIPHER",)))
    with pytest.raises(TLSConfigError, match=r"ssl_options\.versions"):
        start_broker(tls=tls_config(certs, versions=("sslv3",)))


def test_client_that_never_starts_the_handshake_is_dropped(
    start_broker, caplog: pytest.LogCaptureFixture
) -> None:
    broker = start_broker(handshake_timeout=0.5)
    with (
        caplog.at_level(logging.WARNING, logger="leveret.tls"),
        socket.create_connection(("127.0.0.1", broker.ssl_port), timeout=5) as silent,
    ):
        started = time.monotonic()
        assert silent.recv(1) == b""  # closed by the broker, not by the 5 s timeout
        assert time.monotonic() - started < 3
    wait_for(lambda: "TLS handshake with 127.0.0.1" in caplog.text)


def test_stop_with_a_handshake_under_way_is_prompt(start_broker) -> None:
    broker = start_broker(handshake_timeout=30.0)
    with socket.create_connection(("127.0.0.1", broker.ssl_port), timeout=5) as silent:
        time.sleep(0.1)  # accepted, waiting for a ClientHello
        started = time.monotonic()
        broker.stop()
        assert time.monotonic() - started < 3
        assert silent.recv(1) == b""
