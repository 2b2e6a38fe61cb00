"""The control socket: where ``leveret ctl`` finds the broker (the data dir ``leveret serve``
resolves from the same options and environment), its file mode and lifetime, what happens
when no broker is there (exit 69), and the JSON protocol itself."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
from pathlib import Path

from tests.ctl.conftest import Served, run_ctl, start_broker, stop_broker

SOCKET = "leveret-ctl.sock"


def unreachable(data_dir: Path) -> str:
    return f"Error: cannot reach the broker: is `leveret serve` running with data dir {data_dir}?\n"


def test_socket_is_owner_only_and_removed_at_stop(short_tmp: Path) -> None:
    data_dir = short_tmp / "data"
    served = start_broker(data_dir, None, "--data-dir", str(data_dir))
    try:
        mode = (data_dir / SOCKET).stat().st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
        assert served.ctl("-q", "list_users").code == 0
    finally:
        stop_broker(served.proc)
    assert served.proc.returncode == 0
    assert not (data_dir / SOCKET).exists()
    after = served.ctl("list_users")
    assert (after.code, after.out, after.err) == (69, "", unreachable(data_dir))


def test_no_broker_exits_69(short_tmp: Path) -> None:
    result = run_ctl("--data-dir", str(short_tmp), "add_user", "x", "y")
    assert (result.code, result.out, result.err) == (69, "", unreachable(short_tmp))


def test_stale_socket_is_unreachable_then_replaced(short_tmp: Path) -> None:
    """A socket file left by a killed broker: nobody listens, so 69; the next broker on that
    data dir (it holds the lock, so the file cannot be another's) replaces it."""
    data_dir = short_tmp / "data"
    data_dir.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(data_dir / SOCKET))
    stale.close()
    result = run_ctl("--data-dir", str(data_dir), "list_users")
    assert (result.code, result.err) == (69, unreachable(data_dir))
    served = start_broker(data_dir, None, "--data-dir", str(data_dir))
    try:
        assert served.ctl("-q", "list_users").code == 0
    finally:
        stop_broker(served.proc)


def test_data_dir_from_the_environment(short_tmp: Path, environ: dict[str, str]) -> None:
    env = {**environ, "LEVERET_DATA_DIR": str(short_tmp / "from-env")}
    served = start_broker(short_tmp / "from-env", env)
    try:
        result = run_ctl("-s", "list_users", env=env)
        assert (result.code, result.out) == (0, "guest\t[administrator]\n")
        # The command line beats the environment, as for `leveret serve`.
        elsewhere = run_ctl("--data-dir", str(short_tmp / "other"), "list_users", env=env)
        assert elsewhere.code == 69
    finally:
        stop_broker(served.proc)


def test_default_data_dir(short_tmp: Path, environ: dict[str, str]) -> None:
    """With neither --data-dir nor LEVERET_DATA_DIR, both use $XDG_DATA_HOME/leveret."""
    env = {**environ, "XDG_DATA_HOME": str(short_tmp)}
    served = start_broker(short_tmp / "leveret", env)
    try:
        assert (short_tmp / "leveret" / SOCKET).exists()
        result = run_ctl("-q", "list_vhosts", env=env)
        assert (result.code, result.out) == (0, "name\n/\n")
    finally:
        stop_broker(served.proc)


def test_config_file_is_read_as_by_serve(short_tmp: Path, environ: dict[str, str]) -> None:
    missing = short_tmp / "missing.conf"
    result = run_ctl("--config", str(missing), "list_users", env=environ)
    assert result.code == 78
    assert f"cannot read config file {missing}" in result.err
    conf = short_tmp / "rabbitmq.conf"
    conf.write_text("listeners.tcp.default = 5999\n")
    env = {**environ, "XDG_DATA_HOME": str(short_tmp)}
    served = start_broker(short_tmp / "leveret", env, "--config", str(conf), "--port", "0")
    try:
        assert run_ctl("--config", str(conf), "-q", "list_users", env=env).code == 0
    finally:
        stop_broker(served.proc)


def request(sock: socket.socket, reader: socket.SocketIO, message: object) -> object:
    sock.sendall(json.dumps(message).encode() + b"\n")
    return json.loads(reader.readline())


def test_json_protocol(broker: Served) -> None:
    """One JSON line each way, several requests per connection; refusals name their kind."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(broker.data_dir / SOCKET))
        reader = sock.makefile("rb")
        assert request(sock, reader, {"command": "list_users"}) == {
            "ok": True,
            "result": [{"user": "guest", "tags": ["administrator"]}],
        }
        assert request(sock, reader, {"command": "delete_user", "args": {"user": "nobody"}}) == {
            "ok": False,
            "error": 'User "nobody" does not exist',
            "kind": "NoSuchUser",
        }
        unknown = request(sock, reader, {"command": "frobnicate"})
        assert isinstance(unknown, dict) and unknown["kind"] == "UnknownCommand"
        sock.sendall(b"not json\n")
        assert json.loads(reader.readline())["kind"] == "BadRequest"
        reader.close()


def test_a_refused_second_broker_leaves_the_socket_alone(broker: Served) -> None:
    """A second `leveret serve` on the same data dir is refused by the lock before it
    touches the socket, so ctl still reaches the first broker."""
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "leveret",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(broker.data_dir),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert second.returncode != 0
    assert "in use by another broker" in second.stderr
    assert broker.ctl("-q", "list_vhosts").code == 0
