"""``leveret ctl export_definitions`` / ``import_definitions``: RabbitMQ's JSON format, through
the control socket, against a running broker; effects are checked with pika logins."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ctl.conftest import Served


def test_export_to_a_file_and_to_stdout(broker: Served, tmp_path: Path) -> None:
    assert broker.ctl("add_user", "exported", "pw").code == 0
    target = tmp_path / "defs.json"
    result = broker.ctl("export_definitions", str(target))
    assert result.code == 0, result.err
    assert result.out == f'Exporting definitions in JSON to a file at "{target}" ...\n'
    written = json.loads(target.read_text())
    assert "exported" in {user["name"] for user in written["users"]}
    to_stdout = broker.ctl("export_definitions", "-")
    assert to_stdout.code == 0, to_stdout.err
    assert json.loads(to_stdout.out)["users"] == written["users"]  # nothing but the JSON


def test_import_creates_users_who_log_in_and_warns_about_skipped_parts(
    broker: Served, tmp_path: Path
) -> None:
    exported = json.loads(broker.ctl("export_definitions", "-").out)
    password_hash = next(u for u in exported["users"] if u["name"] == "guest")["password_hash"]
    definitions = {
        "users": [
            {
                "name": "imported",
                "password_hash": password_hash,  # guest's: the password is "guest"
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        ],
        "vhosts": [{"name": "imported-vhost"}],
        "permissions": [
            {
                "user": "imported",
                "vhost": "imported-vhost",
                "configure": ".*",
                "write": ".*",
                "read": ".*",
            }
        ],
        "policies": [
            {"vhost": "/", "name": "p", "pattern": ".*", "definition": {}, "apply-to": "all"}
        ],
    }
    source = tmp_path / "import.json"
    source.write_text(json.dumps(definitions))
    result = broker.ctl("import_definitions", str(source))
    assert result.code == 0, result.err
    assert result.out.startswith(f'Importing definitions in JSON from a file at "{source}" ...')
    assert "warning:" in result.err and "polic" in result.err
    assert broker.can_login("imported", "guest", "imported-vhost")


def test_import_of_a_bad_file_is_a_data_error(broker: Served, tmp_path: Path) -> None:
    source = tmp_path / "bad.json"
    source.write_text("{not json")
    result = broker.ctl("import_definitions", str(source))
    assert result.code == 65
    assert "JSON decoding error" in result.err
    missing = broker.ctl("import_definitions", str(tmp_path / "missing.json"))
    assert missing.code == 65
    assert "cannot read" in missing.err
