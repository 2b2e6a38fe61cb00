"""A TLS connection as the management API shows it: ``ssl`` and the session's protocol,
key exchange, cipher and hash in RabbitMQ's (Erlang's) words. Leveret only: the shared
RabbitMQ of the differential tests has no TLS listener."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pika
import requests

from leveret.broker.admin.connections import tls_details

from .conftest import Certs, ThreadedNode


def test_a_tls_connection_shows_its_session(
    start_broker: Callable[..., ThreadedNode], certs: Certs
) -> None:
    broker = start_broker(management_port=0)
    context = certs.client_context(with_cert=False)
    conn = pika.BlockingConnection(
        pika.ConnectionParameters(
            "127.0.0.1",
            broker.ssl_port,
            credentials=pika.PlainCredentials("guest", "guest"),
            ssl_options=pika.SSLOptions(context, "127.0.0.1"),
            connection_attempts=1,
            socket_timeout=5,
        )
    )
    try:
        client_socket = conn._impl._transport._sock
        assert isinstance(client_socket, ssl.SSLSocket)
        version = client_socket.version()
        cipher = client_socket.cipher()
        assert version is not None and cipher is not None
        url = f"http://127.0.0.1:{broker.node.management_port}/api/connections"
        (shown,) = requests.get(url, auth=("guest", "guest"), timeout=10).json()
        assert shown["ssl"] is True
        assert shown["port"] == broker.ssl_port
        expected = tls_details((version, cipher[0]))
        assert expected is not None
        assert (
            shown["ssl_protocol"],
            shown["ssl_key_exchange"],
            shown["ssl_cipher"],
            shown["ssl_hash"],
        ) == (expected.protocol, expected.key_exchange, expected.cipher, expected.hash)
        assert shown["ssl_protocol"] == version.lower()  # "tlsv1.3", as RabbitMQ spells it
    finally:
        conn.close()


def test_openssl_names_in_erlangs_words() -> None:
    # RabbitMQ reports these sessions so (its ssl_* fields come from Erlang's ssl module).
    tls13 = tls_details(("TLSv1.3", "TLS_AES_256_GCM_SHA384"))
    assert tls13 is not None
    assert (tls13.protocol, tls13.key_exchange, tls13.cipher, tls13.hash) == (
        "tlsv1.3",
        "any",
        "aes_256_gcm",
        "sha384",
    )
    tls12 = tls_details(("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"))
    assert tls12 is not None
    assert (tls12.protocol, tls12.key_exchange, tls12.cipher, tls12.hash) == (
        "tlsv1.2",
        "ecdhe_rsa",
        "aes_128_gcm",
        "sha256",
    )
    chacha = tls_details(("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"))
    assert chacha is not None
    assert (chacha.key_exchange, chacha.cipher) == ("ecdhe_ecdsa", "chacha20")
    assert tls_details(None) is None
