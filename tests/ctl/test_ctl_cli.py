"""``leveret ctl``'s command line on its own: help, usage errors and option placement, which
need no broker."""

from __future__ import annotations

from pathlib import Path

from leveret.ctl.render import ADDRESS, TABLE, TUPLE, cell
from tests.ctl.conftest import Served, run_ctl


def test_help_lists_every_command() -> None:
    result = run_ctl("help")
    assert result.code == 0
    for name in ("add_user", "set_permissions", "set_vhost_limits", "list_queues"):
        assert f"   {name} " in result.out
    assert run_ctl("--help").code == 0


def test_help_for_one_command() -> None:
    result = run_ctl("help", "set_permissions")
    assert result.code == 0
    assert result.out.startswith(
        "Usage: leveret ctl set_permissions [-p <vhost>] <user> <configure> <write> <read>\n"
    )


def test_no_command_is_a_usage_error() -> None:
    result = run_ctl()
    assert result.code == 64
    assert result.out == ""
    assert "Commands:" in result.err


def test_usage_errors_do_not_need_a_broker(short_tmp: Path) -> None:
    result = run_ctl("--data-dir", str(short_tmp), "set_permissions", "u", ".*")
    assert result.code == 64
    assert "not enough arguments" in result.err


def test_options_anywhere_and_vhost_ignored_where_unused(broker: Served) -> None:
    """As rabbitmqctl: -q before or after the command, -p accepted by every command."""
    before = broker.ctl("-q", "list_users")
    after = broker.ctl("list_users", "-q")
    assert before.code == after.code == 0
    assert before.out == after.out
    assert broker.ctl("list_users", "-p", "/", "--quiet").out == before.out
    assert broker.ctl("list_users", "--formatter=json").out.startswith("[\n")


def test_cells_as_rabbitmqctl_prints_them() -> None:
    """What the broker sends for tables, tuples and addresses, as table cells (the
    differential tests compare the common cases with rabbitmqctl's own output)."""
    arguments = [
        ["x-match", "longstr", "all"],
        ["n", "signedint", 1],
        ["nested", "table", [["on", "bool", True]]],
        ["list", "array", [["longstr", "a"], ["long", 2]]],
    ]
    assert (
        cell(arguments, TABLE)
        == '[{"x-match","all"},{"n",1},{"nested",[{"on",true}]},{"list",["a",2]}]'
    )
    assert cell([0, 9, 1], TUPLE) == "{0,9,1}"
    assert cell([127, 0, 0, 1], ADDRESS) == "127.0.0.1"
    assert cell([0, 0, 0, 0, 0, 0, 0, 1], ADDRESS) == "::1"
    assert cell(["a", "b"]) == "[a, b]" and cell(None) == "undefined" and cell(False) == "false"
