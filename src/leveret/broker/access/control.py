"""AccessControl: users, vhosts, permissions and limits, in memory and in the store.

Every admin function is plain and synchronous, for the embedded broker, a CLI or an HTTP
API alike; each change is durable when it returns. Refusals raise ``AccessError``s worded
as rabbitmqctl words them. Effects on live connections (closing those of a deleted user or
vhost, creating a vhost's runtime) go through hooks the server layer installs, so this
package knows nothing of sockets.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from leveret.broker.access import passwords
from leveret.broker.access.errors import (
    AlreadyExists,
    AuthenticationFailed,
    InvalidArgument,
    no_such_user,
    no_such_vhost,
)
from leveret.broker.access.grant import Grant
from leveret.broker.access.model import (
    USER_LIMITS,
    VHOST_LIMITS,
    Permission,
    TopicPermission,
    User,
    VhostInfo,
)

Record = tuple[str, str, dict[str, Any]]  # (kind, key, value) as the store keeps it


class AccessStore(Protocol):
    def load_access(self) -> list[Record]: ...

    def write_access(self, puts: Sequence[Record], deletes: Sequence[tuple[str, str]]) -> None:
        """Atomically store ``puts`` and remove ``deletes`` (kind, key)."""
        ...


def is_loopback(host: str | None) -> bool:
    if host is None:
        return True  # a Unix socket or an in-process transport
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _key(*parts: str) -> str:
    return json.dumps(parts)


def _check_regex(pattern: str, what: str) -> None:
    try:
        re.compile(pattern)
    except re.error as error:
        raise InvalidArgument(f"regular expression '{pattern}' is invalid: {error}") from None


def _check_user(name: str, hashing_algorithm: str) -> None:
    if not name:
        raise InvalidArgument("Bad argument: user cannot be an empty string")
    if hashing_algorithm not in passwords.ALGORITHMS:
        raise InvalidArgument(f"unknown hashing algorithm {hashing_algorithm}")


def _limits(given: Mapping[str, object], known: Sequence[str]) -> dict[str, int]:
    limits: dict[str, int] = {}
    for name, value in given.items():
        if name not in known:
            raise InvalidArgument(f"Validation failed\n\n{name} is not a valid limit\n")
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidArgument(f"Validation failed\n\n{name} must be an integer\n")
        limits[name] = value
    return limits


class AccessControl:
    def __init__(self, store: AccessStore | None = None, loopback_users: Iterable[str] = ()):
        self.store = store
        self.loopback_users = set(loopback_users)
        self.users: dict[str, User] = {}
        self.vhosts: dict[str, VhostInfo] = {}
        self.permissions: dict[tuple[str, str], Permission] = {}
        self.topic_permissions: dict[tuple[str, str, str], TopicPermission] = {}
        self.vhost_limits: dict[str, dict[str, int]] = {}
        self.user_limits: dict[str, dict[str, int]] = {}
        # Set through the management API (RabbitMQ keeps it as a global runtime parameter);
        # None: the configured name.
        self.cluster_name: str | None = None
        self._grants: dict[tuple[str, str], Grant] = {}
        # Installed by the server layer; no-ops for a bare model (unit tests).
        self.on_vhost_added: Callable[[str], None] = lambda name: None
        self.on_vhost_deleted: Callable[[str], None] = lambda name: None
        self.on_user_deleted: Callable[[str], None] = lambda name: None
        if store is not None:
            self._load(store.load_access())

    # -- storage ---------------------------------------------------------------------------

    def _load(self, records: list[Record]) -> None:
        for kind, key, value in records:
            if kind == "user":
                self.users[key] = User.from_record(key, value)
            elif kind == "vhost":
                self.vhosts[key] = VhostInfo.from_record(key, value)
            elif kind == "permission":
                user, vhost = json.loads(key)
                self.permissions[(user, vhost)] = Permission(
                    user, vhost, value["configure"], value["write"], value["read"]
                )
            elif kind == "topic":
                user, vhost, exchange = json.loads(key)
                self.topic_permissions[(user, vhost, exchange)] = TopicPermission(
                    user, vhost, exchange, value["write"], value["read"]
                )
            elif kind == "vhost_limits":
                self.vhost_limits[key] = dict(value)
            elif kind == "user_limits":
                self.user_limits[key] = dict(value)
            elif kind == "global" and key == "cluster_name":
                self.cluster_name = str(value["name"])

    def _write(self, puts: Sequence[Record] = (), deletes: Sequence[tuple[str, str]] = ()) -> None:
        if self.store is not None:
            self.store.write_access(puts, deletes)

    @property
    def empty(self) -> bool:
        return not self.users and not self.vhosts

    def seed_defaults(self, user: str, password: str, vhost: str) -> None:
        """First boot (nothing stored): RabbitMQ's default user, administrator with full
        permissions on the default vhost."""
        self.add_vhost(vhost, description="Default virtual host")
        self.add_user(user, password, ["administrator"])
        self.set_permissions(user, vhost, ".*", ".*", ".*")

    # -- login -------------------------------------------------------------------------------

    def check(self, name: str, password: str, peer_host: str | None) -> tuple[User | None, str]:
        """The user, or None and why the login is refused: for the log only, since the
        client hears the same words whatever the reason (no hint for guessing)."""
        user = self.users.get(name)
        if user is None:
            return None, f"user '{name}' - invalid credentials: no such user"
        if user.password_hash is None:
            return None, f"user '{name}' - invalid credentials: user has no password"
        if not passwords.check_password(password, user.password_hash, user.hashing_algorithm):
            return None, f"user '{name}' - invalid credentials: wrong password"
        return self._from_where(user, peer_host)

    def check_external(self, name: str, peer_host: str | None) -> tuple[User | None, str]:
        """Certificate login (EXTERNAL): the user must exist; there is no password."""
        user = self.users.get(name)
        if user is None:
            return None, f"user '{name}' - invalid credentials: no such user"
        return self._from_where(user, peer_host)

    def _from_where(self, user: User, peer_host: str | None) -> tuple[User | None, str]:
        if user.name in self.loopback_users and not is_loopback(peer_host):
            return None, f"user '{user.name}' can only connect via localhost, not from {peer_host}"
        return user, ""

    def authenticate(self, name: str, password: str, peer_host: str | None) -> User | None:
        return self.check(name, password, peer_host)[0]

    def authenticate_user(self, name: str, password: str) -> User:
        user, _ = self.check(name, password, None)
        if user is None:
            raise AuthenticationFailed(
                f'Error: failed to authenticate user "{name}"\n'
                f"user '{name}' - invalid credentials"
            )
        return user

    # -- users -------------------------------------------------------------------------------

    def _user(self, name: str, quoted: bool = True) -> User:
        user = self.users.get(name)
        if user is None:
            raise no_such_user(name, quoted)
        return user

    def add_user(
        self,
        name: str,
        password: str | None,
        tags: Iterable[str] = (),
        *,
        password_hash: str | None = None,
        hashing_algorithm: str = passwords.SHA256,
    ) -> User:
        """A new user. ``password_hash`` (with its algorithm) imports a stored hash instead;
        with neither, the user has no password and may only log in by certificate."""
        _check_user(name, hashing_algorithm)
        if name in self.users:
            raise AlreadyExists(f'User "{name}" already exists')
        if password is not None:
            password_hash = passwords.hash_password(password, hashing_algorithm)
        return self.put_user(name, password_hash, hashing_algorithm, tags)

    def put_user(
        self, name: str, password_hash: str | None, hashing_algorithm: str, tags: Iterable[str]
    ) -> User:
        """Create the user or replace its password hash and tags, keeping its permissions and
        limits (a definitions import: importing the same file twice changes nothing)."""
        _check_user(name, hashing_algorithm)
        user = User(name, password_hash, hashing_algorithm, list(tags))
        self._save_user(user)
        self.users[name] = user
        return user

    def _save_user(self, user: User) -> None:
        self._write([("user", user.name, user.to_record())])

    def delete_user(self, name: str) -> None:
        """Delete the user with its permissions and limits; its connections are closed."""
        self._user(name)
        deletes = [("user", name), ("user_limits", name)]
        deletes += [("permission", _key(*k)) for k in self.permissions if k[0] == name]
        deletes += [("topic", _key(*k)) for k in self.topic_permissions if k[0] == name]
        self._write((), deletes)
        del self.users[name]
        self.user_limits.pop(name, None)
        for key in [k for k in self.permissions if k[0] == name]:
            del self.permissions[key]
        for tkey in [k for k in self.topic_permissions if k[0] == name]:
            del self.topic_permissions[tkey]
        self._invalidate(user=name)
        self.on_user_deleted(name)

    def change_password(self, name: str, password: str) -> None:
        user = self._user(name)
        new = User(name, passwords.hash_password(password), passwords.SHA256, user.tags)
        self._save_user(new)
        self.users[name] = new

    def clear_password(self, name: str) -> None:
        user = self._user(name)
        new = User(name, None, user.hashing_algorithm, user.tags)
        self._save_user(new)
        self.users[name] = new

    def set_user_tags(self, name: str, tags: Iterable[str]) -> None:
        user = self._user(name)
        new = User(name, user.password_hash, user.hashing_algorithm, list(tags))
        self._save_user(new)
        self.users[name] = new

    def list_users(self) -> list[User]:
        return [self.users[name] for name in sorted(self.users)]

    # -- vhosts ------------------------------------------------------------------------------

    def _vhost(self, name: str, quoted: bool = False) -> VhostInfo:
        vhost = self.vhosts.get(name)
        if vhost is None:
            raise no_such_vhost(name, quoted)
        return vhost

    def add_vhost(
        self,
        name: str,
        description: str = "",
        tags: Iterable[str] = (),
        default_queue_type: str | None = None,
    ) -> VhostInfo:
        """Create a vhost. Adding one that exists changes nothing (as rabbitmqctl)."""
        if not name:
            raise InvalidArgument("Bad argument: vhost cannot be an empty string")
        existing = self.vhosts.get(name)
        if existing is not None:
            return existing
        info = VhostInfo(name, description, list(tags), default_queue_type)
        self._write([("vhost", name, info.to_record())])
        self.vhosts[name] = info
        self.on_vhost_added(name)
        return info

    def update_vhost(self, name: str, description: str = "", tags: Iterable[str] = ()) -> VhostInfo:
        """Replace an existing vhost's description and tags, as the management API's PUT
        does. Its default queue type stays what it was made with (RabbitMQ 3.10 ignores a
        new one on update: queues already declared rely on it)."""
        existing = self._vhost(name, quoted=True)
        info = VhostInfo(name, description, list(tags), existing.default_queue_type)
        self._write([("vhost", name, info.to_record())])
        self.vhosts[name] = info
        return info

    def delete_vhost(self, name: str) -> None:
        """Delete the vhost, its permissions and limits; the hook closes its connections
        (320 "vhost 'NAME' is deleted") and deletes its queues, exchanges and messages."""
        self._vhost(name, quoted=True)
        deletes = [("vhost", name), ("vhost_limits", name)]
        deletes += [("permission", _key(*k)) for k in self.permissions if k[1] == name]
        deletes += [("topic", _key(*k)) for k in self.topic_permissions if k[1] == name]
        self._write((), deletes)
        del self.vhosts[name]
        self.vhost_limits.pop(name, None)
        for key in [k for k in self.permissions if k[1] == name]:
            del self.permissions[key]
        for tkey in [k for k in self.topic_permissions if k[1] == name]:
            del self.topic_permissions[tkey]
        self._invalidate(vhost=name)
        self.on_vhost_deleted(name)

    def list_vhosts(self) -> list[VhostInfo]:
        return [self.vhosts[name] for name in sorted(self.vhosts)]

    # -- cluster name ------------------------------------------------------------------------

    def set_cluster_name(self, name: str) -> None:
        self._write([("global", "cluster_name", {"name": name})])
        self.cluster_name = name

    # -- permissions -------------------------------------------------------------------------

    def set_permissions(
        self, user: str, vhost: str, configure: str, write: str, read: str
    ) -> Permission:
        self._user(user, quoted=False)
        self._vhost(vhost)
        for pattern in (configure, write, read):
            _check_regex(pattern, "permission")
        permission = Permission(user, vhost, configure, write, read)
        record = {"configure": configure, "write": write, "read": read}
        self._write([("permission", _key(user, vhost), record)])
        self.permissions[(user, vhost)] = permission
        self._invalidate(user, vhost)
        return permission

    def clear_permissions(self, user: str, vhost: str) -> None:
        self._user(user, quoted=False)
        self._vhost(vhost)
        self._write((), [("permission", _key(user, vhost))])
        self.permissions.pop((user, vhost), None)
        self._invalidate(user, vhost)

    def list_permissions(self, vhost: str) -> list[Permission]:
        self._vhost(vhost, quoted=True)
        return sorted((p for p in self.permissions.values() if p.vhost == vhost), key=_by_user)

    def list_user_permissions(self, user: str) -> list[Permission]:
        self._user(user)
        return sorted(
            (p for p in self.permissions.values() if p.user == user), key=lambda p: p.vhost
        )

    def set_topic_permissions(
        self, user: str, vhost: str, exchange: str, write: str, read: str
    ) -> TopicPermission:
        self._user(user, quoted=False)
        self._vhost(vhost)
        for pattern in (write, read):
            _check_regex(pattern, "topic permission")
        permission = TopicPermission(user, vhost, exchange, write, read)
        record = {"write": write, "read": read}
        self._write([("topic", _key(user, vhost, exchange), record)])
        self.topic_permissions[(user, vhost, exchange)] = permission
        self._invalidate(user, vhost)
        return permission

    def clear_topic_permissions(self, user: str, vhost: str, exchange: str | None = None) -> None:
        """Clear the user's topic permissions in the vhost (on one exchange if given)."""
        self._user(user, quoted=False)
        self._vhost(vhost)
        doomed = [
            k
            for k in self.topic_permissions
            if k[0] == user and k[1] == vhost and (exchange is None or k[2] == exchange)
        ]
        self._write((), [("topic", _key(*k)) for k in doomed])
        for key in doomed:
            del self.topic_permissions[key]
        self._invalidate(user, vhost)

    def list_topic_permissions(
        self, vhost: str | None = None, user: str | None = None
    ) -> list[TopicPermission]:
        return sorted(
            (
                p
                for p in self.topic_permissions.values()
                if (vhost is None or p.vhost == vhost) and (user is None or p.user == user)
            ),
            key=lambda p: (p.vhost, p.user, p.exchange),
        )

    # -- limits ------------------------------------------------------------------------------

    def set_vhost_limits(self, vhost: str, limits: Mapping[str, object]) -> None:
        """Merge ``limits`` ("max-connections", "max-queues"; negative = no limit)."""
        self._vhost(vhost)
        merged = {**self.vhost_limits.get(vhost, {}), **_limits(limits, VHOST_LIMITS)}
        self._store_limits("vhost_limits", self.vhost_limits, vhost, merged)

    def clear_vhost_limits(self, vhost: str, name: str | None = None) -> None:
        self._vhost(vhost)
        self._store_limits(
            "vhost_limits",
            self.vhost_limits,
            vhost,
            _without(self.vhost_limits.get(vhost, {}), name),
        )

    def set_user_limits(self, user: str, limits: Mapping[str, object]) -> None:
        """Merge ``limits`` ("max-connections", "max-channels"; negative = no limit)."""
        self._user(user)
        merged = {**self.user_limits.get(user, {}), **_limits(limits, USER_LIMITS)}
        self._store_limits("user_limits", self.user_limits, user, merged)

    def clear_user_limits(self, user: str, name: str | None = None) -> None:
        self._user(user)
        self._store_limits(
            "user_limits", self.user_limits, user, _without(self.user_limits.get(user, {}), name)
        )

    def _store_limits(
        self, kind: str, table: dict[str, dict[str, int]], key: str, limits: dict[str, int]
    ) -> None:
        """Store the limits of one vhost or user; none left removes the record."""
        if limits:
            self._write([(kind, key, limits)])
            table[key] = limits
        else:
            self._write((), [(kind, key)])
            table.pop(key, None)

    def vhost_limit(self, vhost: str, name: str) -> int:
        """The limit in force, or -1 for none."""
        return self.vhost_limits.get(vhost, {}).get(name, -1)

    def user_limit(self, user: str, name: str) -> int:
        return self.user_limits.get(user, {}).get(name, -1)

    # -- enforcement -------------------------------------------------------------------------

    def grant(self, user: str, vhost: str) -> Grant | None:
        """What ``user`` may do in ``vhost``; None when it has no permissions there."""
        key = (user, vhost)
        grant = self._grants.get(key)
        if grant is not None:
            return grant
        permission = self.permissions.get(key)
        if permission is None:
            return None
        topics = [t for k, t in self.topic_permissions.items() if k[0] == user and k[1] == vhost]
        grant = self._grants[key] = Grant(user, vhost, permission, topics)
        return grant

    def check_access(self, user: str, vhost: str, kind: str, name: str, permission: str) -> None:
        """The one resource check, for AMQP handlers and HTTP alike: raises ChannelError
        403 ACCESS_REFUSED with RabbitMQ's text. Compiled regexes are cached per user and
        vhost (the grant), so this is a dict lookup and a regex search."""
        grant = self.grant(user, vhost) or Grant(user, vhost, None, [])
        grant.check(permission, kind, name)

    def current_grant(self, grant: Grant) -> Grant:
        """The grant to use instead of a stale one (one that refuses all if revoked)."""
        fresh = self.grant(grant.user, grant.vhost)
        return fresh if fresh is not None else Grant(grant.user, grant.vhost, None, [])

    def _invalidate(self, user: str | None = None, vhost: str | None = None) -> None:
        for key in list(self._grants):
            if (user is None or key[0] == user) and (vhost is None or key[1] == vhost):
                self._grants.pop(key).stale = True


def _without(limits: Mapping[str, int], name: str | None) -> dict[str, int]:
    """``limits`` less the one called ``name`` (all of them when None)."""
    return {k: v for k, v in limits.items() if name not in (None, k)}


def _by_user(permission: Permission) -> str:
    return permission.user
