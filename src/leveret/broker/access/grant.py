"""What one user may do in one vhost: compiled regexes plus caches of their answers.

A Grant is built once per (user, vhost) and shared by that user's connections to the vhost.
When an operator changes the user's permissions the Grant is marked stale, and every
connection holding it fetches a fresh one before its next check, so a change takes effect
at the next operation. Publishing asks ``may_write_exchange``, a dict lookup once an
exchange has been seen.
"""

from __future__ import annotations

import re

from leveret.amqp.errors import ACCESS_REFUSED, ChannelError
from leveret.broker.access.model import Permission, TopicPermission

# The default exchange's blank name is checked as "amq.default", as RabbitMQ does.
DEFAULT_EXCHANGE = "amq.default"
_NEVER = re.compile(r"(?!)")


def compile_permission(pattern: str) -> re.Pattern[str]:
    """RabbitMQ's rule: the empty pattern means '^$'; others match anywhere (re:run)."""
    return re.compile(pattern or "^$")


def _expand(pattern: str, user: str, vhost: str) -> str:
    return pattern.replace("{username}", user).replace("{vhost}", vhost)


class Grant:
    __slots__ = (
        "configure",
        "read",
        "stale",
        "topics",
        "user",
        "vhost",
        "writable",
        "write",
    )

    def __init__(
        self,
        user: str,
        vhost: str,
        permission: Permission | None,
        topics: list[TopicPermission],
    ):
        self.user = user
        self.vhost = vhost
        if permission is None:  # revoked while connected: nothing is allowed any more
            self.configure = self.write = self.read = _NEVER
        else:
            self.configure = compile_permission(permission.configure)
            self.write = compile_permission(permission.write)
            self.read = compile_permission(permission.read)
        # exchange -> (write, read) on routing keys; only exchanges with topic permissions.
        self.topics: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
            t.exchange: (
                compile_permission(_expand(t.write, user, vhost)),
                compile_permission(_expand(t.read, user, vhost)),
            )
            for t in topics
        }
        self.stale = False
        self.writable: dict[str, bool] = {}  # exchange name -> may publish to it

    def _refuse(self, kind: str, name: str) -> ChannelError:
        return ChannelError(
            ACCESS_REFUSED,
            f"access to {kind} '{name}' in vhost '{self.vhost}' refused for user '{self.user}'",
        )

    def check(self, permission: str, kind: str, name: str) -> None:
        """``permission`` ("configure", "write" or "read") on resource ``kind`` ("queue",
        "exchange") ``name``, or 403 ACCESS_REFUSED in RabbitMQ's words."""
        pattern = {"configure": self.configure, "write": self.write, "read": self.read}[permission]
        self._match(pattern, kind, name)

    def check_configure(self, kind: str, name: str) -> None:
        self._match(self.configure, kind, name)

    def check_write(self, kind: str, name: str) -> None:
        self._match(self.write, kind, name)

    def check_read(self, kind: str, name: str) -> None:
        self._match(self.read, kind, name)

    def _match(self, pattern: re.Pattern[str], kind: str, name: str) -> None:
        name = name or DEFAULT_EXCHANGE
        if pattern.search(name) is None:
            raise self._refuse(kind, name)

    def check_publish(self, exchange: str) -> None:
        allowed = self.writable.get(exchange)
        if allowed is None:
            allowed = self.write.search(exchange or DEFAULT_EXCHANGE) is not None
            self.writable[exchange] = allowed
        if not allowed:
            raise self._refuse("exchange", exchange or DEFAULT_EXCHANGE)

    def check_topic(self, access: str, exchange: str, routing_key: str) -> None:
        """Topic permissions (topic exchanges only): none set for the exchange allows all."""
        patterns = self.topics.get(exchange)
        if patterns is None:
            return
        pattern = patterns[0] if access == "write" else patterns[1]
        if pattern.search(routing_key) is None:
            raise ChannelError(
                ACCESS_REFUSED,
                # The same words for write and read (rabbit_access_control, 3.10 observed).
                f"access to topic '{routing_key}' in exchange '{exchange}' in vhost "
                f"'{self.vhost}' refused for user '{self.user}'",
            )
