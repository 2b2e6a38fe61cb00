"""AccessControl's vhost metadata updates and the cluster name: kept in the store, read
back by a fresh AccessControl."""

from __future__ import annotations

from pathlib import Path

import pytest

from leveret.broker.access import AccessControl, NoSuchVhost
from leveret.store.sqlite_definitions import SqliteDefinitionStore


def test_update_vhost_replaces_description_and_tags_only(tmp_path: Path) -> None:
    store = SqliteDefinitionStore(tmp_path / "defs.sqlite3")
    access = AccessControl(store)
    access.add_vhost("v", "first", ["a"], "quorum")
    access.update_vhost("v", "second", ["b", "c"])
    reread = AccessControl(store).vhosts["v"]
    assert (reread.description, reread.tags, reread.default_queue_type) == (
        "second",
        ["b", "c"],
        "quorum",
    )
    with pytest.raises(NoSuchVhost):
        access.update_vhost("missing")
    store.close()


def test_cluster_name_is_stored(tmp_path: Path) -> None:
    store = SqliteDefinitionStore(tmp_path / "defs.sqlite3")
    access = AccessControl(store)
    assert access.cluster_name is None
    access.set_cluster_name("named")
    reread = AccessControl(store)
    assert reread.cluster_name == "named"
    assert reread.empty  # a name alone is not a first boot's users and vhosts
    store.close()
