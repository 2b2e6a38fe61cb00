"""Users, vhosts, permissions and limits, with RabbitMQ's rules and texts."""

from leveret.broker.access.control import AccessControl, AccessStore, is_loopback
from leveret.broker.access.errors import (
    AccessError,
    AlreadyExists,
    AuthenticationFailed,
    InvalidArgument,
    NoSuchUser,
    NoSuchVhost,
)
from leveret.broker.access.grant import Grant
from leveret.broker.access.model import Permission, TopicPermission, User, VhostInfo

__all__ = [
    "AccessControl",
    "AccessError",
    "AccessStore",
    "AlreadyExists",
    "AuthenticationFailed",
    "Grant",
    "InvalidArgument",
    "NoSuchUser",
    "NoSuchVhost",
    "Permission",
    "TopicPermission",
    "User",
    "VhostInfo",
    "is_loopback",
]
