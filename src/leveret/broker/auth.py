"""Users and authentication. The default user guest/guest may connect from loopback only."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass, field


@dataclass
class User:
    name: str
    password_hash: bytes
    salt: bytes
    loopback_only: bool = False
    vhosts: set[str] = field(default_factory=lambda: {"/"})


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.sha256(salt + password.encode()).digest()


def is_loopback(host: str | None) -> bool:
    if host is None:
        return True  # a Unix socket or an in-process transport
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class UserDatabase:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    def add(self, name: str, password: str, *, loopback_only: bool = False) -> User:
        salt = os.urandom(8)
        user = User(name, _hash(password, salt), salt, loopback_only)
        self.users[name] = user
        return user

    def authenticate(self, name: str, password: str, peer_host: str | None) -> User | None:
        return self.check(name, password, peer_host)[0]

    def check(self, name: str, password: str, peer_host: str | None) -> tuple[User | None, str]:
        """The user, or None and why the login is refused: for the log only, since the
        client hears the same words whatever the reason (no hint for guessing)."""
        user = self.users.get(name)
        if user is None:
            return None, f"user '{name}' - invalid credentials: no such user"
        if not hmac.compare_digest(user.password_hash, _hash(password, user.salt)):
            return None, f"user '{name}' - invalid credentials: wrong password"
        if user.loopback_only and not is_loopback(peer_host):
            return None, f"user '{name}' can only connect via localhost, not from {peer_host}"
        return user, ""

    def check_external(self, name: str, peer_host: str | None) -> tuple[User | None, str]:
        """SASL EXTERNAL: the TLS layer verified the client certificate that gave this
        name, so there is no password to check; the user must exist all the same, and a
        loopback-only user stays local."""
        user = self.users.get(name)
        if user is None:
            return None, f"user '{name}' (from the client certificate) - no such user"
        if user.loopback_only and not is_loopback(peer_host):
            return None, f"user '{name}' can only connect via localhost, not from {peer_host}"
        return user, ""

    @classmethod
    def with_default_user(cls) -> UserDatabase:
        users = cls()
        users.add("guest", "guest", loopback_only=True)
        return users
