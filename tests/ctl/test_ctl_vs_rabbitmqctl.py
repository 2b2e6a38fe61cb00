"""Differential: the same command sequences through ``leveret ctl`` and RabbitMQ 3.10's
rabbitmqctl print the same lines and exit with the same codes.

Runs only with ``LEVERET_TEST_RABBITMQ_DIR`` (the state directory of a node started by
``scripts/rabbitmq.sh``, as the access tests use); that script passes ``-q``, so both sides
run quiet. Names are unique per run and every case deletes what it created.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.ctl.conftest import CtlResult, Served

RABBITMQ_DIR = os.environ.get("LEVERET_TEST_RABBITMQ_DIR")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rabbitmq.sh"

pytestmark = pytest.mark.skipif(
    not RABBITMQ_DIR, reason="LEVERET_TEST_RABBITMQ_DIR names no RabbitMQ node"
)


def rabbitmqctl(*args: str) -> CtlResult:
    assert RABBITMQ_DIR is not None
    proc = subprocess.run(
        [str(SCRIPT), "ctl", RABBITMQ_DIR, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # The Erlang logger sometimes adds its own line ("\n11:39:08.477 [warning] Failed to
    # delete user ..."), which is no part of the command's output.
    err = re.sub(r"^\n?\d\d:\d\d:\d\d\.\d+ \[\w+\] [^\n]*\n", "", proc.stderr)
    return CtlResult(proc.returncode, proc.stdout, err)


def same(broker: Served, *args: str) -> None:
    theirs = rabbitmqctl(*args)
    ours = broker.ctl("-q", *args)
    assert (ours.code, ours.out, ours.err) == (theirs.code, theirs.out, theirs.err), args


def test_user_commands(broker: Served) -> None:
    user = f"diff-u-{secrets.token_hex(3)}"
    try:
        for args in (
            ("add_user", user, "pw"),
            ("add_user", user, "pw"),
            ("authenticate_user", user, "pw"),
            ("authenticate_user", user, "bad"),
            ("set_user_tags", user, "monitoring", "management"),
            ("change_password", user, "pw2"),
            ("delete_user", user),
            ("delete_user", user),
            ("change_password", user, "x"),
            ("add_user", user),  # no password, none on stdin either
        ):
            same(broker, *args)
    finally:
        rabbitmqctl("delete_user", user)


def test_vhost_and_permission_commands(broker: Served) -> None:
    user = f"diff-p-{secrets.token_hex(3)}"
    vhost = f"diff-v-{secrets.token_hex(3)}"
    try:
        for args in (
            ("add_user", user, "pw"),
            ("add_vhost", vhost),
            ("set_permissions", "-p", vhost, user, ".*", "^w", "^r"),
            ("list_permissions", "-p", vhost),
            ("list_user_permissions", user),
            ("set_topic_permissions", "-p", vhost, user, "amq.topic", "^a", "^b"),
            ("list_topic_permissions", "-p", vhost),
            ("list_user_topic_permissions", user),
            ("clear_topic_permissions", "-p", vhost, user, "amq.topic"),
            ("clear_permissions", "-p", vhost, user),
            ("set_vhost_limits", "-p", vhost, '{"max-connections": 10}'),
            ("list_vhost_limits", "-p", vhost),
            ("clear_vhost_limits", "-p", vhost),
            ("set_user_limits", user, '{"max-channels": 3}'),
            ("list_user_limits", "--user", user),
            ("clear_user_limits", user, "all"),
            ("list_permissions", "-p", vhost, "--formatter", "json"),
            ("delete_vhost", vhost),
            ("delete_vhost", vhost),
            ("list_permissions", "-p", vhost),
            ("delete_user", user),
        ):
            same(broker, *args)
    finally:
        rabbitmqctl("delete_vhost", vhost)
        rabbitmqctl("delete_user", user)


def test_usage_errors_exit_alike(broker: Served) -> None:
    """Usage texts differ (each tool names itself); the exit code is the same."""
    for args in (
        ("set_permissions", "guest", ".*"),
        ("list_users", "extra"),
        ("clear_password", "a", "b"),
        ("list_vhosts", "name", "bogus"),
        ("no_such_command",),
    ):
        theirs = rabbitmqctl(*args)
        ours = broker.ctl("-q", *args)
        assert (ours.code, ours.out) == (theirs.code, theirs.out) == (64, ""), args
