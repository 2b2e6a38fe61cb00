"""``leveret ctl`` user commands against a running broker: rabbitmqctl's output and exit
codes, and each change seen by a real AMQP login."""

from __future__ import annotations

import json

from tests.ctl.conftest import Served

DONE = (
    "Done. Don't forget to grant the user permissions to some virtual hosts! "
    "See 'leveret ctl help set_permissions' to learn more.\n"
)


def grant(broker: Served, user: str, vhost: str = "/") -> None:
    assert broker.ctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*").code == 0


def test_add_user_then_login(broker: Served) -> None:
    result = broker.ctl("add_user", "u-add", "secret")
    assert (result.code, result.err) == (0, "")
    assert result.out == 'Adding user "u-add" ...\n' + DONE
    grant(broker, "u-add")
    assert broker.can_login("u-add", "secret")
    assert not broker.can_login("u-add", "wrong")


def test_add_existing_user_exits_70_with_rabbitmqctls_text(broker: Served) -> None:
    assert broker.ctl("add_user", "u-dup", "a").code == 0
    result = broker.ctl("add_user", "u-dup", "b")
    assert result.code == 70
    assert result.out == 'Adding user "u-dup" ...\n'
    assert result.err == 'Error:\nUser "u-dup" already exists\n'
    grant(broker, "u-dup")
    assert broker.can_login("u-dup", "a")  # the first password stands


def test_quiet_drops_the_info_and_done_lines(broker: Served) -> None:
    result = broker.ctl("-q", "add_user", "u-quiet", "pw")
    assert (result.code, result.out, result.err) == (0, "", "")


def test_password_starting_with_a_dash_after_double_dash(broker: Served) -> None:
    assert broker.ctl("add_user", "-q", "--", "u-dash", "-pw").code == 0
    grant(broker, "u-dash")
    assert broker.can_login("u-dash", "-pw")


def test_password_from_stdin(broker: Served) -> None:
    """As rabbitmqctl: a password left off the command line is read from stdin."""
    assert broker.ctl("add_user", "u-stdin", stdin="from stdin\n").code == 0
    grant(broker, "u-stdin")
    assert broker.can_login("u-stdin", "from stdin")
    assert broker.ctl("-q", "authenticate_user", "u-stdin", stdin="from stdin\n").code == 0
    assert broker.ctl("change_password", "u-stdin", stdin="second\n").code == 0
    assert broker.can_login("u-stdin", "second")
    empty = broker.ctl("add_user", "u-nopw")
    assert (empty.code, empty.err) == (
        65,
        "Error:\nPassword is not provided via argument or stdin\n",
    )
    assert "u-nopw" not in broker.ctl("-s", "list_users").out


def test_change_and_clear_password(broker: Served) -> None:
    broker.ctl("add_user", "u-pw", "old")
    grant(broker, "u-pw")
    result = broker.ctl("change_password", "u-pw", "new")
    assert (result.code, result.out) == (0, 'Changing password for user "u-pw" ...\n')
    assert broker.can_login("u-pw", "new")
    assert not broker.can_login("u-pw", "old")
    result = broker.ctl("clear_password", "u-pw")
    assert (result.code, result.out) == (0, 'Clearing password for user "u-pw" ...\n')
    assert not broker.can_login("u-pw", "new")


def test_authenticate_user(broker: Served) -> None:
    broker.ctl("add_user", "u-auth", "right")
    ok = broker.ctl("authenticate_user", "u-auth", "right")
    assert (ok.code, ok.out) == (0, 'Authenticating user "u-auth" ...\nSuccess\n')
    assert broker.ctl("-q", "authenticate_user", "u-auth", "right").out == "Success\n"
    bad = broker.ctl("authenticate_user", "u-auth", "wrong")
    assert bad.code == 65
    assert bad.err == (
        'Error:\nError: failed to authenticate user "u-auth"\n'
        "user 'u-auth' - invalid credentials\n"
    )


def test_delete_user_ends_its_logins(broker: Served) -> None:
    broker.ctl("add_user", "u-del", "pw")
    grant(broker, "u-del")
    assert broker.can_login("u-del", "pw")
    result = broker.ctl("delete_user", "u-del")
    assert (result.code, result.out) == (0, 'Deleting user "u-del" ...\n')
    assert not broker.can_login("u-del", "pw")


def test_unknown_user_exits_67(broker: Served) -> None:
    for args in (
        ("delete_user", "nobody"),
        ("change_password", "nobody", "x"),
        ("clear_password", "nobody"),
        ("set_user_tags", "nobody", "a"),
        ("list_user_permissions", "nobody"),
        ("list_user_limits", "--user", "nobody"),
        ("set_user_limits", "nobody", "{}"),
    ):
        result = broker.ctl(*args)
        assert result.code == 67, args
        assert result.err == 'Error:\nUser "nobody" does not exist\n', args
    result = broker.ctl("set_permissions", "nobody", ".*", ".*", ".*")
    assert (result.code, result.err) == (67, "Error:\nUser nobody does not exist\n")


def test_set_user_tags_and_list_users(broker: Served) -> None:
    broker.ctl("add_user", "u-tags", "pw")
    result = broker.ctl("set_user_tags", "u-tags", "monitoring", "management")
    assert result.out == 'Setting tags for user "u-tags" to [monitoring, management] ...\n'
    listing = broker.ctl("list_users")
    assert listing.code == 0
    lines = listing.out.splitlines()
    assert lines[:2] == ["Listing users ...", "user\ttags"]
    assert "u-tags\t[monitoring, management]" in lines
    assert "guest\t[administrator]" in lines
    assert broker.ctl("-q", "list_users").out.splitlines()[0] == "user\ttags"
    silent = broker.ctl("-s", "list_users").out.splitlines()
    assert "u-tags\t[monitoring, management]" in silent
    assert all("\t" in line and line != "user\ttags" for line in silent)
    cleared = broker.ctl("set_user_tags", "u-tags")
    assert cleared.out == 'Setting tags for user "u-tags" to [] ...\n'
    assert "u-tags\t[]" in broker.ctl("-s", "list_users").out.splitlines()


def test_list_users_json(broker: Served) -> None:
    broker.ctl("add_user", "u-json", "pw")
    broker.ctl("set_user_tags", "u-json", "administrator")
    result = broker.ctl("list_users", "--formatter", "json")
    assert result.code == 0
    # rabbitmqctl's layout: "[", one object a line (commas leading), "]".
    lines = result.out.splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    assert lines[1].startswith("{") and all(line.startswith(",{") for line in lines[2:-1])
    assert {"user": "u-json", "tags": ["administrator"]} in json.loads(result.out)


def test_user_limits(broker: Served) -> None:
    broker.ctl("add_user", "u-lim", "pw")
    grant(broker, "u-lim")
    result = broker.ctl("set_user_limits", "u-lim", '{"max-connections": 1}')
    assert result.code == 0
    assert result.out == ('Setting user limits to "{"max-connections": 1}" for user "u-lim" ...\n')
    shown = broker.ctl("list_user_limits", "--user", "u-lim")
    assert shown.out == 'Listing limits for user "u-lim" ...\n{"max-connections":1}\n'
    first = broker.connect("u-lim", "pw")
    try:
        assert not broker.can_login("u-lim", "pw")
    finally:
        first.close()
    cleared = broker.ctl("clear_user_limits", "u-lim", "all")
    assert cleared.out == 'Clearing all limits for user "u-lim" ...\n'
    first = broker.connect("u-lim", "pw")
    try:
        assert broker.can_login("u-lim", "pw")
    finally:
        first.close()


def test_bad_limits_are_data_errors(broker: Served) -> None:
    bad_json = broker.ctl("set_user_limits", "guest", "{max")
    assert bad_json.code == 65
    assert bad_json.err.startswith("Error:\nJSON decoding error.")
    unknown = broker.ctl("set_user_limits", "guest", '{"max-bogus": 1}')
    assert unknown.code == 65
    assert "max-bogus is not a valid limit" in unknown.err


def test_usage_errors_exit_64(broker: Served) -> None:
    missing = broker.ctl("set_permissions", "guest", ".*")
    assert missing.code == 64
    assert missing.err.startswith("Error (argument validation): not enough arguments.")
    assert "leveret ctl set_permissions [-p <vhost>] <user> <configure>" in missing.err
    assert broker.ctl("list_users", "extra").code == 64
    assert broker.ctl("clear_password", "a", "b").code == 64
    assert broker.ctl("list_users", "--formatter", "xml").code == 64
    assert broker.ctl("list_users", "--bogus").code == 64
    unknown = broker.ctl("no_such_command")
    assert unknown.code == 64
    assert unknown.err.startswith("Command 'no_such_command' not found.")
