"""The user name a client certificate logs in as with EXTERNAL (ssl_cert_login_from).

The certificates here are what Python's ssl module reports (``getpeercert()``), so
the escaping and ordering rules are checked without a handshake; test_tls.py checks
the same names end to end with real certificates.
"""

from __future__ import annotations

from leveret.broker.access import AccessControl
from leveret.server.login import cert_user_name, common_name, distinguished_name

CERT = {
    "subject": (
        (("countryName", "GB"),),
        (("organizationName", "Acme, Inc."),),
        (("organizationalUnitName", "a+b"), ("userId", "x")),
        (("commonName", " #lead;trail "),),
    )
}


def test_distinguished_name_is_most_specific_first_with_rfc4514_escapes() -> None:
    assert distinguished_name(CERT) == "CN=\\ #lead\\;trail\\ ,OU=a\\+b+UID=x,O=Acme\\, Inc.,C=GB"


def test_leading_hash_and_special_characters_are_escaped() -> None:
    cert = {"subject": ((("commonName", '#1 "q" <a>\\'),),)}
    assert distinguished_name(cert) == 'CN=\\#1 \\"q\\" \\<a\\>\\\\'


def test_unknown_attributes_keep_the_ssl_module_name() -> None:
    cert = {"subject": ((("1.2.3.4", "v"),), (("commonName", "c"),))}
    assert distinguished_name(cert) == "CN=c,1.2.3.4=v"


def test_login_name_from_common_name_or_distinguished_name() -> None:
    assert cert_user_name(CERT, "common_name") == " #lead;trail "
    assert cert_user_name(CERT, "distinguished_name") == distinguished_name(CERT)
    assert common_name({"subject": ((("organizationName", "O"),),)}) is None
    assert cert_user_name({"subject": ()}, "distinguished_name") is None


def test_check_external_needs_an_existing_user_and_keeps_loopback_rules() -> None:
    users = _users_with_guest()
    users.add_user("CN=app,O=Acme", "irrelevant")
    user, why = users.check_external("CN=app,O=Acme", "10.0.0.7")
    assert user is not None and user.name == "CN=app,O=Acme" and why == ""
    user, why = users.check_external("CN=nobody", "127.0.0.1")
    assert user is None and "'CN=nobody'" in why and "no such user" in why
    user, why = users.check_external("guest", "10.0.0.7")
    assert user is None and "can only connect via localhost" in why
    assert users.check_external("guest", "127.0.0.1")[0] is not None


def test_mechanisms_offered_and_external_without_a_certificate() -> None:
    import pytest

    from leveret.amqp.sasl import SASLError
    from leveret.server.config import Config
    from leveret.server.login import authenticate, offered

    users = _users_with_guest()
    users.add_user("c", "unused")
    config = Config(data_dir=None, auth_mechanisms=("EXTERNAL", "PLAIN"))
    cert = {"subject": ((("commonName", "c"),),)}
    assert offered(config, cert) == ["EXTERNAL", "PLAIN"]
    assert offered(config, None) == ["PLAIN"]
    # A client that insists on EXTERNAL without a certificate hears a refusal (403).
    user, why = authenticate(users, config, "EXTERNAL", b"", None, "127.0.0.1")
    assert user is None and "no verified client certificate" in why
    config.ssl_cert_login_from = "common_name"
    user, _ = authenticate(users, config, "EXTERNAL", b"", cert, "127.0.0.1")
    assert user is not None and user.name == "c"
    # AMQPLAIN is not configured here: not offered, so not accepted either.
    with pytest.raises(SASLError):
        authenticate(users, config, "AMQPLAIN", b"", None, "127.0.0.1")


def _users_with_guest() -> AccessControl:
    """An in-memory access model with RabbitMQ's default user, loopback-only."""
    users = AccessControl(loopback_users=("guest",))
    users.add_user("guest", "guest", ("administrator",))
    return users
