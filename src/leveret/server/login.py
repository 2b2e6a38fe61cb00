"""SASL at connection.start: which mechanisms a connection is offered, and who logs in.

PLAIN and AMQPLAIN check a user name and password. EXTERNAL (RabbitMQ's
rabbitmq_auth_mechanism_ssl) takes the user name from the client certificate that the
TLS layer verified, and checks no password; like RabbitMQ, it is offered only when
``auth_mechanisms`` lists it and the connection came with a verified certificate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from leveret.amqp.sasl import SASLError, parse_response

if TYPE_CHECKING:
    from leveret.broker.access import AccessControl, User
    from leveret.server.config import Config

PASSWORD_MECHANISMS = ("PLAIN", "AMQPLAIN")

# X.509 attribute names as Python's ssl module reports them -> the short names
# RabbitMQ uses in a distinguished name string. Others keep the ssl module's name
# (OpenSSL's long name, or the dotted OID of an attribute OpenSSL does not know).
DN_SHORT_NAMES = {
    "surname": "SN",
    "givenName": "GIVENNAME",
    "initials": "INITIALS",
    "generationQualifier": "GENERATIONQUALIFIER",
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "title": "TITLE",
    "countryName": "C",
    "serialNumber": "SERIALNUMBER",
    "pseudonym": "PSEUDONYM",
    "domainComponent": "DC",
    "emailAddress": "EMAILADDRESS",
    "streetAddress": "STREET",
    "userId": "UID",
}

PeerCert = Mapping[str, object]


def peer_certificate(transport: asyncio.BaseTransport | None) -> PeerCert | None:
    """The client certificate the TLS layer verified, or None (plain TCP, none sent, or
    ``verify_none``: an unverified certificate must never name a user)."""
    if transport is None or transport.get_extra_info("ssl_object") is None:
        return None
    cert = transport.get_extra_info("peercert")
    return cert if isinstance(cert, Mapping) and cert else None


def offered(config: Config, cert: PeerCert | None) -> list[str]:
    """The mechanisms to advertise, in the configured order."""
    names: list[str] = []
    for name in (m.upper() for m in config.auth_mechanisms):
        usable = name in PASSWORD_MECHANISMS or (name == "EXTERNAL" and cert is not None)
        if usable and name not in names:
            names.append(name)
    return names


def _subject(cert: PeerCert) -> list[list[tuple[str, str]]]:
    """The subject's RDNs in certificate order, each a list of (attribute, value)."""
    rdns: list[list[tuple[str, str]]] = []
    subject = cert.get("subject")
    if not isinstance(subject, tuple):
        return rdns
    for rdn in subject:
        if isinstance(rdn, tuple):
            rdns.append(
                [
                    (str(pair[0]), str(pair[1]))
                    for pair in rdn
                    if isinstance(pair, tuple) and len(pair) == 2
                ]
            )
    return rdns


def _escape(value: str) -> str:
    """RFC 4514 escaping, as RabbitMQ does it: the special characters, a leading space
    or '#', a trailing space; control characters as \\XX."""
    out: list[str] = []
    for i, char in enumerate(value):
        if char in ',+"\\<>;' or (i == 0 and char in " #") or (i == len(value) - 1 and char == " "):
            out.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\{ord(char):02X}")
        else:
            out.append(char)
    return "".join(out)


def distinguished_name(cert: PeerCert) -> str:
    """The subject as RabbitMQ writes it: most specific RDN first ("CN=client,O=Org",
    the reverse of the certificate's order, like OpenSSL's RFC 2253 form)."""
    return ",".join(
        "+".join(f"{DN_SHORT_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn)
        for rdn in reversed(_subject(cert))
    )


def common_name(cert: PeerCert) -> str | None:
    for rdn in _subject(cert):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def cert_user_name(cert: PeerCert, login_from: str) -> str | None:
    """The user name a certificate logs in as (ssl_cert_login_from)."""
    if login_from == "common_name":
        return common_name(cert)
    return distinguished_name(cert) or None


def authenticate(
    users: AccessControl,
    config: Config,
    mechanism: str,
    response: bytes,
    cert: PeerCert | None,
    peer_host: str | None,
) -> tuple[User | None, str]:
    """The user, or None and why the login is refused (for the log). Raises SASLError for
    a mechanism that was not offered or a response that cannot be parsed."""
    if mechanism == "EXTERNAL" and "EXTERNAL" in (m.upper() for m in config.auth_mechanisms):
        if cert is None:
            return None, "no verified client certificate (EXTERNAL needs TLS with one)"
        name = cert_user_name(cert, config.ssl_cert_login_from)
        if name is None:
            return None, (
                f"the client certificate has no {config.ssl_cert_login_from} to log in as"
            )
        return users.check_external(name, peer_host)
    if mechanism not in offered(config, cert):
        raise SASLError(f"mechanism {mechanism!r} is not offered")
    username, password = parse_response(mechanism, response)
    return users.check(username, password, peer_host)
