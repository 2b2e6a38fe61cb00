"""Durable definitions (exchanges, queues, bindings) when the disk is full.

A declare, bind, unbind or delete whose definition cannot be stored is refused with a
channel error (506 RESOURCE_ERROR), as a publish on a full disk is refused with a nack, and
changes nothing: what the broker holds in memory is what the store holds, so a restart
brings back exactly what clients were told exists.

The real SQLite store is made to fail with ``PRAGMA max_page_count``, which gives the
same SQLITE_FULL ("database or disk is full") as a full file system; the message logs use
the simulated disk. A random workload over ``SimulatedDefinitionStore`` covers the same
rules with the disk filling up and emptying at random points, with power losses.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

import pytest

from leveret.amqp.errors import RESOURCE_ERROR, ChannelError
from leveret.broker.vhost import VirtualHost
from leveret.store.base import (
    DefinitionStore,
    ExchangeDefinition,
    QueueDefinition,
    StoreFailure,
)
from leveret.store.sqlite_definitions import SqliteDefinitionStore

from .simulated_disk import (
    PowerLoss,
    Rig,
    SimulatedDefinitionStore,
    SimulatedDisk,
    make_message,
)

FULL = "RESOURCE_ERROR - cannot store {what} in vhost '/': database or disk is full"


def fill(store: SqliteDefinitionStore) -> None:
    """From now on the database file cannot grow (SQLITE_FULL once its pages are used)."""
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages}")


def unfill(store: SqliteDefinitionStore) -> None:
    store.db.execute("PRAGMA max_page_count=1073741823")


def state_in_memory(vhost: VirtualHost) -> tuple[set[str], set[str], set[tuple[str, str, str]]]:
    queues = {n for n, q in vhost.queues.items() if q.durable and q.exclusive_owner is None}
    exchanges = {n for n, x in vhost.exchanges.items() if x.durable and n and "amq." not in n}
    bindings = set()
    for name, exchange in vhost.exchanges.items():
        if not exchange.durable:
            continue
        for destination, key, _ in exchange.router.bindings():
            dest_name = getattr(destination, "name", "")
            if getattr(destination, "durable", False):
                bindings.add((name, dest_name, key))
    return queues, exchanges, bindings


def state_in_store(store: DefinitionStore) -> tuple[set[str], set[str], set[tuple[str, str, str]]]:
    loaded = store.load()
    return (
        {q.name for q in loaded.queues},
        {x.name for x in loaded.exchanges},
        {(b.source, b.destination, b.routing_key) for b in loaded.bindings},
    )


def test_sqlite_store_full_raises_store_failure_and_changes_nothing(tmp_path: Path) -> None:
    store = SqliteDefinitionStore(tmp_path / "definitions.sqlite3")
    fill(store)
    added = []
    with pytest.raises(StoreFailure, match="database or disk is full"):
        for n in range(10_000):
            store.add_queue(QueueDefinition("/", f"q{n}", False, {"x-max-length": n}))
            added.append(f"q{n}")
    assert added  # the free space of the existing pages was used first
    assert {q.name for q in store.load().queues} == set(added)
    with pytest.raises(StoreFailure):
        store.add_exchange(ExchangeDefinition("/", "x" * 5000, "direct"))
    # The store is still usable: deletes free space, and more space means more rows.
    store.remove_queue("/", added[0])
    unfill(store)
    store.add_exchange(ExchangeDefinition("/", "x", "direct"))
    store.close()
    reopened = SqliteDefinitionStore(tmp_path / "definitions.sqlite3")
    assert {q.name for q in reopened.load().queues} == set(added[1:])
    assert [x.name for x in reopened.load().exchanges] == ["x"]
    reopened.close()


def test_declares_on_a_full_disk_are_refused_and_leave_nothing_half_made(tmp_path: Path) -> None:
    path = tmp_path / "definitions.sqlite3"
    disk = SimulatedDisk()
    store = SqliteDefinitionStore(path)
    rig = Rig(disk, store)
    vhost = rig.vhost
    vhost.declare_exchange("events", "direct", durable=True)
    rig.declare("kept")
    vhost.bind("events", vhost.queues["kept"], "k", None)
    fill(store)
    disk.full = True  # the message logs cannot write either

    def until_refused(declare: object) -> tuple[int, ChannelError]:
        assert callable(declare)
        for n in range(10_000):
            try:
                declare(n)
            except ChannelError as error:
                return n, error
        raise AssertionError("the store never filled up")

    # Each table fills its last page first; then the next write of its kind is refused.
    n, error = until_refused(lambda n: rig.declare(f"q{n}"))
    assert (error.reply_code, error.reply_text) == (
        RESOURCE_ERROR,
        FULL.format(what=f"queue 'q{n}'"),
    )
    assert f"q{n}" not in vhost.queues
    refused_queue = f"q{n}"

    n, error = until_refused(lambda n: vhost.declare_exchange(f"x{n}", "fanout", durable=True))
    assert error.reply_text == FULL.format(what=f"exchange 'x{n}'")
    assert f"x{n}" not in vhost.exchanges

    kept = vhost.queues["kept"]
    n, error = until_refused(lambda n: vhost.bind("events", kept, f"key{n}", None))
    assert error.reply_text == FULL.format(what="a binding")
    message = make_message(1, persistent=True)
    message.routing_key = f"key{n}"
    assert vhost.route(vhost.exchanges["events"], message) == []
    refused_key = f"key{n}"
    # Transient things need no store: they still work.
    vhost.declare_queue("transient", None, durable=False)
    vhost.bind("events", vhost.queues["transient"], "t", None)
    assert state_in_memory(vhost) == state_in_store(store)

    # Space comes back: everything works again, and a restart brings back what was declared.
    unfill(store)
    disk.full = False
    rig.declare(refused_queue)
    vhost.bind("events", vhost.queues["kept"], refused_key, None)
    before = state_in_memory(vhost)
    assert before == state_in_store(store)
    store.close()
    store = SqliteDefinitionStore(path)
    rig = Rig(disk, store)
    assert state_in_memory(rig.vhost) == before
    store.close()


def test_deletes_on_a_full_disk_are_refused_and_change_nothing(tmp_path: Path) -> None:
    disk = SimulatedDisk()
    definitions = SimulatedDefinitionStore(disk)
    rig = Rig(disk, definitions)
    vhost = rig.vhost
    vhost.declare_exchange("events", "topic", durable=True)
    queue = rig.declare("q")
    vhost.bind("events", queue, "#", None)
    disk.full = True
    with pytest.raises(ChannelError) as info:
        vhost.delete_queue("q", None)
    assert info.value.reply_text == FULL.format(what="the deletion of queue 'q'")
    with pytest.raises(ChannelError):
        vhost.delete_exchange("events")
    with pytest.raises(ChannelError):
        vhost.unbind("events", queue, "#", None)
    assert vhost.queues["q"] is queue and not queue.deleted
    assert vhost.route(vhost.exchanges["events"], make_message(1, persistent=True)) == [queue]
    assert state_in_memory(vhost) == state_in_store(definitions)
    disk.full = False
    assert vhost.delete_queue("q", None) == 0
    assert state_in_memory(vhost) == state_in_store(definitions) == (set(), {"events"}, set())


@pytest.mark.parametrize("seed", range(12))
def test_random_definition_changes_with_the_disk_filling_up(seed: int) -> None:
    """Declares, binds, unbinds and deletes while the disk fills and empties, with power
    losses: memory and store agree after every step, and a reboot restores that state."""
    rng = random.Random(seed)
    disk = SimulatedDisk()
    definitions = SimulatedDefinitionStore(disk)
    rig = Rig(disk, definitions)
    refusals = 0
    for step in range(300):
        vhost = rig.vhost
        disk.full = rng.random() < 0.4
        q, x = f"q{rng.randint(1, 5)}", f"x{rng.randint(1, 3)}"
        op = rng.choice(("queue", "exchange", "bind", "unbind", "delete_q", "delete_x", "pub"))
        try:
            if op == "queue":
                vhost.declare_queue(q, None, durable=q != "q5")  # q5: transient
            elif op == "exchange":
                vhost.declare_exchange(x, "direct", durable=True)
            elif op in ("bind", "unbind") and q in vhost.queues and x in vhost.exchanges:
                getattr(vhost, op)(x, vhost.queues[q], rng.choice("ab"), None)
            elif op == "delete_q":
                vhost.delete_queue(q, None)
            elif op == "delete_x":
                vhost.delete_exchange(x)
            elif op == "pub" and x in vhost.exchanges:
                rig.publish(make_message(step, persistent=True), lambda ok: None)
        except ChannelError as error:
            assert error.reply_code == RESOURCE_ERROR
            refusals += 1
        assert state_in_memory(vhost) == state_in_store(definitions), f"step {step}"
        if rng.random() < 0.05:
            disk.full = False
            before = state_in_memory(vhost)
            disk.crash_after(rng.randint(1, 5))
            with contextlib.suppress(PowerLoss):
                rig.run()
            disk.crash(torn_tail=True, rng=rng)
            rig = Rig(disk, definitions)
            assert state_in_memory(rig.vhost) == before
    assert refusals > 20
