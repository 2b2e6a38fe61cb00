"""The access model's records: plain data, what the store keeps and the admin API returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leveret.broker.access.passwords import SHA256

# RabbitMQ's well-known user tags; any other word is accepted too (free-form tags).
KNOWN_TAGS = ("administrator", "monitoring", "policymaker", "management", "impersonator")
VHOST_LIMITS = ("max-connections", "max-queues")
USER_LIMITS = ("max-connections", "max-channels")


@dataclass
class User:
    name: str
    # None: the user has no password and cannot log in with one (certificates only).
    password_hash: str | None = None
    hashing_algorithm: str = SHA256
    tags: list[str] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return {
            "password_hash": self.password_hash,
            "hashing_algorithm": self.hashing_algorithm,
            "tags": list(self.tags),
        }

    @classmethod
    def from_record(cls, name: str, record: dict[str, Any]) -> User:
        return cls(
            name, record.get("password_hash"), record.get("hashing_algorithm", SHA256),
            list(record.get("tags", [])),
        )  # fmt: skip


@dataclass
class VhostInfo:
    name: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    default_queue_type: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "tags": list(self.tags),
            "default_queue_type": self.default_queue_type,
        }

    @classmethod
    def from_record(cls, name: str, record: dict[str, Any]) -> VhostInfo:
        return cls(
            name, record.get("description", ""), list(record.get("tags", [])),
            record.get("default_queue_type"),
        )  # fmt: skip


@dataclass(frozen=True)
class Permission:
    user: str
    vhost: str
    configure: str
    write: str
    read: str


@dataclass(frozen=True)
class TopicPermission:
    user: str
    vhost: str
    exchange: str
    write: str
    read: str
