"""Durable definitions in SQLite (WAL mode, synchronous=FULL): small and rarely written."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from leveret.amqp.table import decode_table, encode_table
from leveret.store.base import (
    BindingDefinition,
    Definitions,
    ExchangeDefinition,
    QueueDefinition,
    StoreFailure,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    vhost TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
    auto_delete INTEGER NOT NULL, internal INTEGER NOT NULL, arguments BLOB NOT NULL,
    PRIMARY KEY (vhost, name));
CREATE TABLE IF NOT EXISTS queues (
    vhost TEXT NOT NULL, name TEXT NOT NULL,
    auto_delete INTEGER NOT NULL, arguments BLOB NOT NULL,
    PRIMARY KEY (vhost, name));
CREATE TABLE IF NOT EXISTS bindings (
    vhost TEXT NOT NULL, source TEXT NOT NULL, destination TEXT NOT NULL,
    destination_is_queue INTEGER NOT NULL, routing_key TEXT NOT NULL, arguments BLOB NOT NULL,
    PRIMARY KEY (vhost, source, destination, destination_is_queue, routing_key, arguments));
"""

# Schema versions (PRAGMA user_version), applied in order to bring an older file up to date.
# Version 1 adds the access model (users, vhosts, permissions, limits) as JSON records; a
# file from before it opens with that table empty, and the broker then seeds the defaults.
MIGRATIONS = [
    """CREATE TABLE IF NOT EXISTS access (
        kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (kind, key));""",
]
SCHEMA_VERSION = len(MIGRATIONS)


def _args(blob: bytes) -> dict[str, object]:
    return decode_table(blob)[0]


@contextmanager
def _writing(db: sqlite3.Connection) -> Iterator[None]:
    """One atomic change: on any SQLite error (SQLITE_FULL on a full disk, SQLITE_IOERR)
    it is rolled back and ``StoreFailure`` raised, so the caller can refuse cleanly."""
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("COMMIT")  # in WAL mode the pages are written (and may fail) here
    except BaseException as error:
        with suppress(sqlite3.Error):  # (a closed database raises on in_transaction too)
            if db.in_transaction:
                db.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise StoreFailure(str(error)) from error
        raise


def _binding_row(binding: BindingDefinition) -> tuple[object, ...]:
    """A binding's columns, in the table's order (insert and delete match on all of them)."""
    return (
        binding.vhost,
        binding.source,
        binding.destination,
        binding.destination_is_queue,
        binding.routing_key,
        encode_table(binding.arguments),
    )


class SqliteDefinitionStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreFailure(
                f"definitions schema version {version} is newer than this broker's "
                f"({SCHEMA_VERSION})"
            )
        for number in range(version, SCHEMA_VERSION):
            with _writing(self.db):
                self.db.execute(MIGRATIONS[number])
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    def load(self) -> Definitions:
        db = self.db
        return Definitions(
            [
                ExchangeDefinition(v, n, t, bool(a), bool(i), _args(args))
                for v, n, t, a, i, args in db.execute("SELECT * FROM exchanges")
            ],
            [
                QueueDefinition(v, n, bool(a), _args(args))
                for v, n, a, args in db.execute("SELECT * FROM queues")
            ],
            [
                BindingDefinition(v, s, d, bool(q), k, _args(args))
                for v, s, d, q, k, args in db.execute("SELECT * FROM bindings")
            ],
        )

    def add_exchange(self, exchange: ExchangeDefinition) -> None:
        with _writing(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO exchanges VALUES (?, ?, ?, ?, ?, ?)",
                (
                    exchange.vhost,
                    exchange.name,
                    exchange.type,
                    exchange.auto_delete,
                    exchange.internal,
                    encode_table(exchange.arguments),
                ),
            )

    def remove_exchange(self, vhost: str, name: str) -> None:
        with _writing(self.db):
            self.db.execute("DELETE FROM exchanges WHERE vhost=? AND name=?", (vhost, name))
            self.db.execute(
                "DELETE FROM bindings WHERE vhost=? AND (source=? OR "
                "(destination=? AND destination_is_queue=0))",
                (vhost, name, name),
            )

    def add_queue(self, queue: QueueDefinition) -> None:
        with _writing(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO queues VALUES (?, ?, ?, ?)",
                (queue.vhost, queue.name, queue.auto_delete, encode_table(queue.arguments)),
            )

    def remove_queue(self, vhost: str, name: str) -> None:
        with _writing(self.db):
            self.db.execute("DELETE FROM queues WHERE vhost=? AND name=?", (vhost, name))
            self.db.execute(
                "DELETE FROM bindings WHERE vhost=? AND destination=? AND destination_is_queue=1",
                (vhost, name),
            )

    def add_binding(self, binding: BindingDefinition) -> None:
        with _writing(self.db):
            self.db.execute(
                "INSERT OR IGNORE INTO bindings VALUES (?, ?, ?, ?, ?, ?)",
                _binding_row(binding),
            )

    def remove_binding(self, binding: BindingDefinition) -> None:
        with _writing(self.db):
            self.db.execute(
                "DELETE FROM bindings WHERE vhost=? AND source=? AND destination=? AND "
                "destination_is_queue=? AND routing_key=? AND arguments=?",
                _binding_row(binding),
            )

    def load_access(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (kind, key, json.loads(value))
            for kind, key, value in self.db.execute("SELECT kind, key, value FROM access")
        ]

    def write_access(
        self,
        puts: Sequence[tuple[str, str, dict[str, Any]]],
        deletes: Sequence[tuple[str, str]],
    ) -> None:
        with _writing(self.db):
            for kind, key, value in puts:
                self.db.execute(
                    "INSERT OR REPLACE INTO access VALUES (?, ?, ?)",
                    (kind, key, json.dumps(value, sort_keys=True)),
                )
            for kind, key in deletes:
                self.db.execute("DELETE FROM access WHERE kind=? AND key=?", (kind, key))

    def close(self) -> None:
        self.db.close()
