"""One state, not two: when storing a durable declaration or binding fails, the vhost in
memory is left as it was (or put back), so that what routes now is what a restart restores.

The failures are real ones of the SQLite definition store: a name it cannot encode (what a
name that is not UTF-8 used to be, before the codec refused it), or a closed database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leveret.broker.message import Message
from leveret.broker.vhost import VirtualHost
from leveret.store.sqlite_definitions import SqliteDefinitionStore

OWNER = object()


def routed(vhost: VirtualHost, exchange: str, key: str) -> list[str]:
    message = Message(exchange, key, b"\x00\x00", b"body")
    return [q.name for q in vhost.route(vhost.get_exchange(exchange), message)]


def restarted(path: Path) -> VirtualHost:
    vhost = VirtualHost("/", definitions=SqliteDefinitionStore(path))
    vhost.restore(vhost.definitions.load())
    return vhost


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "definitions.sqlite"


@pytest.fixture
def vhost(db: Path) -> VirtualHost:
    vhost = VirtualHost("/", definitions=SqliteDefinitionStore(db))
    vhost.declare_exchange("x", "direct", durable=True)
    vhost.declare_queue("q", OWNER, durable=True)
    return vhost


def test_durable_bind_that_cannot_be_stored_does_not_route(vhost: VirtualHost, db: Path) -> None:
    with pytest.raises(UnicodeEncodeError):
        vhost.bind("x", vhost.queues["q"], "k\udcff", None)
    assert routed(vhost, "x", "k\udcff") == []
    assert vhost.get_exchange("x").router.binding_count() == 0
    vhost.definitions.close()
    assert routed(restarted(db), "x", "k\udcff") == []


def test_durable_bind_after_the_store_failed_routes_now_and_after_a_restart(
    vhost: VirtualHost, db: Path
) -> None:
    vhost.definitions.close()  # every write fails from now on
    with pytest.raises(Exception, match="closed database"):
        vhost.bind("x", vhost.queues["q"], "k", None)
    assert routed(vhost, "x", "k") == []
    vhost.definitions = SqliteDefinitionStore(db)
    vhost.bind("x", vhost.queues["q"], "k", None)  # not "already bound": it never was
    assert routed(vhost, "x", "k") == ["q"]
    vhost.definitions.close()
    assert routed(restarted(db), "x", "k") == ["q"]


def test_durable_unbind_that_cannot_be_stored_keeps_the_binding(
    vhost: VirtualHost, db: Path
) -> None:
    vhost.bind("x", vhost.queues["q"], "k", None)
    vhost.definitions.close()
    with pytest.raises(Exception, match="closed database"):
        vhost.unbind("x", vhost.queues["q"], "k", None)
    assert routed(vhost, "x", "k") == ["q"]
    assert routed(restarted(db), "x", "k") == ["q"]


def test_durable_exchange_that_cannot_be_stored_is_not_declared(
    vhost: VirtualHost, db: Path
) -> None:
    with pytest.raises(UnicodeEncodeError):
        vhost.declare_exchange("e\udcff", "fanout", durable=True)
    assert "e\udcff" not in vhost.exchanges
    vhost.definitions.close()
    with pytest.raises(Exception, match="closed database"):
        vhost.declare_exchange("e", "fanout", durable=True)
    assert "e" not in vhost.exchanges
    assert "e" not in restarted(db).exchanges


def test_durable_exchange_delete_that_cannot_be_stored_keeps_it(
    vhost: VirtualHost, db: Path
) -> None:
    vhost.definitions.close()
    with pytest.raises(Exception, match="closed database"):
        vhost.delete_exchange("x")
    assert "x" in vhost.exchanges
    assert "x" in restarted(db).exchanges
