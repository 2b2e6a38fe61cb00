"""Users, vhosts, permissions and limits survive a restart on the same data directory; the
defaults are created on first boot only; a data directory from before the access model
opens with its vhosts kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pika
import pika.exceptions
import pytest

import leveret
from leveret.store.sqlite_definitions import SCHEMA

pytestmark = pytest.mark.leveret_only


def _connect(
    broker: leveret.Broker, user: str, password: str, vhost: str
) -> pika.BlockingConnection:
    return pika.BlockingConnection(
        pika.URLParameters(broker.url_for(vhost, user=user, password=password))
    )


def test_access_model_survives_a_restart(tmp_path: Path) -> None:
    with leveret.Broker(data_dir=tmp_path) as broker:
        broker.access(lambda a: a.add_vhost("apps", description="for apps"))
        broker.access(lambda a: a.add_user("app", "secret", ["monitoring"]))
        broker.access(lambda a: a.set_permissions("app", "apps", "^app\\.", ".*", ".*"))
        broker.access(lambda a: a.set_topic_permissions("app", "apps", "amq.topic", "^a\\.", ".*"))
        broker.access(lambda a: a.set_vhost_limits("apps", {"max-queues": 1}))
        broker.access(lambda a: a.set_user_limits("app", {"max-channels": 5}))
        broker.access(lambda a: a.delete_user("guest"))
    with leveret.Broker(data_dir=tmp_path) as broker:
        users = broker.access(lambda a: a.list_users())
        assert [(u.name, u.tags) for u in users] == [("app", ["monitoring"])]  # guest stays gone
        assert [v.name for v in broker.access(lambda a: a.list_vhosts())] == ["/", "apps"]
        assert broker.access(lambda a: a.vhosts["apps"].description) == "for apps"
        assert broker.access(lambda a: a.user_limits) == {"app": {"max-channels": 5}}
        conn = _connect(broker, "app", "secret", "apps")
        ch = conn.channel()
        ch.queue_declare("app.one")
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            ch.queue_declare("app.two")
        assert "queue limit in vhost 'apps' (1) is reached" in refused.value.reply_text
        ch = conn.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
            ch.basic_publish("amq.topic", "b.x", b"m")
            ch.queue_declare("app.one", passive=True)  # a round trip to see the close
        assert "access to topic 'b.x'" in refused.value.reply_text
        conn.close()


def test_first_boot_creates_the_default_user_and_vhost(tmp_path: Path) -> None:
    with leveret.Broker(data_dir=tmp_path) as broker:
        users = broker.access(lambda a: a.list_users())
        assert [(u.name, u.tags) for u in users] == [("guest", ["administrator"])]
        perms = broker.access(lambda a: a.list_permissions("/"))
        assert [(p.user, p.configure, p.write, p.read) for p in perms] == [
            ("guest", ".*", ".*", ".*")
        ]
        stored = broker.access(lambda a: a.users["guest"].password_hash)
        assert stored is not None and stored != "guest"


def test_a_data_dir_from_before_the_access_model_keeps_its_vhosts(tmp_path: Path) -> None:
    # The schema as it was (no access table, user_version 0), holding two durable queues.
    db = sqlite3.connect(tmp_path / "definitions.sqlite3")
    db.executescript(SCHEMA)
    for vhost in ("/", "legacy"):
        db.execute("INSERT INTO queues VALUES (?, ?, 0, ?)", (vhost, "old", b"\x00\x00\x00\x00"))
    db.commit()
    db.close()
    with leveret.Broker(data_dir=tmp_path) as broker:
        for vhost in ("/", "legacy"):
            conn = _connect(broker, "guest", "guest", vhost)
            assert conn.channel().queue_declare("old", passive=True).method.queue == "old"
            conn.close()
    version = sqlite3.connect(tmp_path / "definitions.sqlite3").execute("PRAGMA user_version")
    assert version.fetchone()[0] == 1
