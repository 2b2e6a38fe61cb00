"""Password hashes in RabbitMQ's format, so definitions move between the two brokers.

A stored hash is base64(salt + H(salt + utf8 password)) with a 4-byte salt, as
rabbit_password_hashing_sha256 (the default), _sha512 and _md5 make them; which H is named by
the user's ``hashing_algorithm``. Imported md5 and sha512 hashes are checked; new ones are
always sha256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

SHA256 = "rabbit_password_hashing_sha256"
SHA512 = "rabbit_password_hashing_sha512"
MD5 = "rabbit_password_hashing_md5"
ALGORITHMS = {SHA256: "sha256", SHA512: "sha512", MD5: "md5"}
SALT_SIZE = 4


def hash_password(password: str, algorithm: str = SHA256, salt: bytes | None = None) -> str:
    if salt is None:
        salt = os.urandom(SALT_SIZE)
    digest = hashlib.new(_function(algorithm), salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def check_password(password: str, password_hash: str, algorithm: str = SHA256) -> bool:
    try:
        raw = base64.b64decode(password_hash, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) <= SALT_SIZE:
        return False
    expected = hash_password(password, algorithm, raw[:SALT_SIZE])
    return hmac.compare_digest(expected.encode(), password_hash.encode())


def _function(algorithm: str) -> str:
    try:
        return ALGORITHMS[algorithm]
    except KeyError:
        raise ValueError(f"unknown password hashing algorithm {algorithm!r}") from None
