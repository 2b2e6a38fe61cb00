"""``leveret ctl``: parse a rabbitmqctl-style command line, run it on the broker, print.

Options may come anywhere, before or after the command, as with rabbitmqctl; ``--`` ends
them (for a password that starts with a dash). Output follows rabbitmqctl 3.10: an info
line ("Listing users ..."), then for listings a tab-separated header and rows; ``-q`` drops
the info line, ``-s`` the header too, ``--formatter json`` prints rabbitmqctl's JSON.

Exit codes (sysexits, as rabbitmqctl): 0 ok; 64 usage; 65 data error (no such vhost, bad
argument, failed authentication); 67 no such user; 69 broker unreachable; 70 software
error (and "already exists", as rabbitmqctl); 75 timeout; 78 bad configuration.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from leveret.ctl.client import Client, TimedOut, Unreachable
from leveret.ctl.commands import COMMANDS, Args, Command, DataError, UsageError

EX_OK, EX_USAGE, EX_DATAERR, EX_NOUSER = 0, 64, 65, 67
EX_UNAVAILABLE, EX_SOFTWARE, EX_TEMPFAIL, EX_CONFIG = 69, 70, 75, 78

# The refusal kinds of server/control.py (the access errors' class names) -> exit code.
EXIT_CODES = {
    "NoSuchUser": EX_NOUSER,
    "NoSuchVhost": EX_DATAERR,
    "NotFound": EX_DATAERR,
    "InvalidArgument": EX_DATAERR,
    "AuthenticationFailed": EX_DATAERR,
    "BadRequest": EX_DATAERR,
    "UnknownCommand": EX_USAGE,
    "AlreadyExists": EX_SOFTWARE,
    # rabbitmqctl exits 69 for an invalid policy and for clearing one that is not there.
    "PolicyRefused": EX_UNAVAILABLE,
}

FORMATTERS = ("table", "json")
# Options that take a value, with the names they are stored under.
VALUE_OPTIONS = {
    "-p": "vhost", "--vhost": "vhost", "--formatter": "formatter", "--config": "config",
    "--data-dir": "data_dir", "-t": "timeout", "--timeout": "timeout",
}  # fmt: skip
FLAGS = {"-q": "quiet", "--quiet": "quiet", "-s": "silent", "--silent": "silent"}


class Parsed:
    def __init__(self) -> None:
        self.positionals: list[str] = []
        self.options: dict[str, str] = {}
        self.flags: set[str] = set()
        self.help = False


def parse(argv: Sequence[str]) -> Parsed:
    """Split options from positionals; which options a command accepts is checked later."""
    parsed = Parsed()
    command_options = {f"--{name}" for cmd in COMMANDS.values() for name in cmd.options}
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--":
            parsed.positionals.extend(tokens[i:])
            break
        name, eq, inline = token.partition("=")
        if name in VALUE_OPTIONS or name in command_options:
            if eq:
                value = inline
            elif i < len(tokens):
                value, i = tokens[i], i + 1
            else:
                raise UsageError(f"option {name} needs a value")
            parsed.options[VALUE_OPTIONS.get(name, name)] = value
        elif token in FLAGS:
            parsed.flags.add(FLAGS[token])
        elif token in ("-h", "--help"):
            parsed.help = True
        elif token.startswith("-") and len(token) > 1:
            raise UsageError(f"unknown option {token}")
        else:
            parsed.positionals.append(token)
    return parsed


def command_args(cmd: Command, parsed: Parsed) -> tuple[Args, list[str]]:
    """The command's arguments, and the columns asked for (listings)."""
    given = parsed.positionals[1:]
    for option in parsed.options:
        if option.startswith("--") and option[2:] not in cmd.options:
            raise UsageError(f"{cmd.name} takes no option {option}")
    if len(given) < len(cmd.args):
        raise UsageError("not enough arguments.")
    args: Args = dict(zip(cmd.args, given, strict=False))
    extra = given[len(cmd.args) :]
    for name in cmd.optional:
        args[name] = extra.pop(0) if extra else None
    if cmd.rest is not None:
        args[cmd.rest], extra = extra, []
    columns = list(cmd.columns)
    if cmd.columns and extra:
        unknown = [c for c in extra if c not in cmd.all_columns]
        if unknown:
            raise UsageError(f"Info key(s) {','.join(unknown)} are not supported")
        columns, extra = extra, []
    if extra:
        raise UsageError("too many arguments.")
    if cmd.vhost:
        args["vhost"] = parsed.options.get("vhost", "/")
    for name, default in cmd.options.items():
        value = parsed.options.get(f"--{name}", default)
        if value is not None:
            args[name.replace("-", "_")] = value
    return args, columns


def data_dir(parsed: Parsed) -> Path:
    """The data directory ``leveret serve`` would use with the same options and environment
    (command line > environment > config file > default)."""
    # Imported here: `leveret ctl help` and usage errors need no settings machinery.
    from leveret.server.config import CONTROL_SOCKET
    from leveret.server.settings import resolve

    given = parsed.options.get("data_dir")
    resolved = resolve({"data_dir": given}, os.environ, parsed.options.get("config"))
    if resolved.data_dir is not None and not resolved.data_dir.strip():
        raise UsageError("--data-dir must not be empty")
    return resolved.data_dir_path() / CONTROL_SOCKET


def cell(value: object) -> str:
    """A value as rabbitmqctl's table shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "undefined"
    if isinstance(value, list):
        return f"[{', '.join(cell(item) for item in value)}]"
    if isinstance(value, dict):
        return compact(value)
    return str(value)


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def print_rows(
    rows: list[dict[str, Any]], columns: list[str], formatter: str, silent: bool, out: TextIO
) -> None:
    if formatter == "json":
        # rabbitmqctl's layout: one object a line, commas leading.
        objects = [compact({c: row.get(c) for c in columns}) for row in rows]
        if not objects:
            out.write("[]\n")
            return
        out.write("[\n" + "".join(o + "\n" if i == 0 else f",{o}\n" for i, o in enumerate(objects)))
        out.write("]\n")
        return
    if not rows:
        return  # as rabbitmqctl: no header over nothing
    if not silent:
        out.write("\t".join(columns) + "\n")
    for row in rows:
        out.write("\t".join(cell(row.get(c)) for c in columns) + "\n")


def usage_text() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "Usage: leveret ctl [--config FILE] [--data-dir DIR] [-q] [-s] "
        "[--formatter table|json] <command> [<args>]",
        "",
        "Commands:",
    ]
    lines += [f"   {name:<{width}}  {cmd.help}" for name, cmd in COMMANDS.items()]
    lines += ["", "Run `leveret ctl help <command>` for a command's arguments."]
    return "\n".join(lines)


def run(argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        parsed = parse(argv)
    except UsageError as error:
        err.write(f"Error (argument validation): {error}\n\n{usage_text()}\n")
        return EX_USAGE
    words = parsed.positionals
    if not words or words[0] == "help" or (parsed.help and not words):
        name = words[1] if len(words) > 1 else None
        if name is not None and name in COMMANDS:
            out.write(f"Usage: {COMMANDS[name].usage}\n\n{COMMANDS[name].help}\n")
            return EX_OK
        (out if words else err).write(usage_text() + "\n")
        return EX_OK if words or parsed.help else EX_USAGE
    cmd = COMMANDS.get(words[0])
    if cmd is None:
        err.write(f"Command '{words[0]}' not found.\n\n{usage_text()}\n")
        return EX_USAGE
    if parsed.help:
        out.write(f"Usage: {cmd.usage}\n\n{cmd.help}\n")
        return EX_OK
    formatter = parsed.options.get("formatter", "table")
    try:
        if formatter not in FORMATTERS:
            raise UsageError(f"--formatter must be one of {', '.join(FORMATTERS)}")
        args, columns = command_args(cmd, parsed)
        timeout = float(parsed.options.get("timeout", "60"))
    except (UsageError, ValueError) as error:
        err.write(f"Error (argument validation): {error}\n\nUsage: {cmd.usage}\n")
        return EX_USAGE
    try:
        path = data_dir(parsed)
    except UsageError as error:
        err.write(f"Error (argument validation): {error}\n")
        return EX_USAGE
    except ValueError as error:  # SettingsError, ConfigFileError: as `leveret serve` says
        err.write(f"Error: {error}\n")
        return EX_CONFIG
    client = Client(path, timeout)
    try:
        # Connected before the info line, so an unreachable broker is the only thing said.
        client.connect()
    except Unreachable as error:
        err.write(f"Error: {error}\n")
        return EX_UNAVAILABLE
    try:
        return execute(client, cmd, args, columns, parsed, formatter, out, err)
    finally:
        client.close()


def execute(
    client: Client, cmd: Command, args: Args, columns: list[str], parsed: Parsed,
    formatter: str, out: TextIO, err: TextIO,
) -> int:  # fmt: skip
    quiet = "quiet" in parsed.flags or "silent" in parsed.flags or formatter == "json"
    info = cmd.info_line(args) if not quiet and cmd.info else ""
    if info:
        out.write(info + "\n")
        out.flush()
    try:
        request = cmd.prepare(args) if cmd.prepare is not None else args
    except DataError as error:
        err.write(f"Error:\n{error}\n")
        return EX_DATAERR
    try:
        reply = client.call(cmd.name, request)
    except Unreachable as error:
        err.write(f"Error: {error}\n")
        return EX_UNAVAILABLE
    except TimedOut as error:
        err.write(f"Error: {error}\n")
        return EX_TEMPFAIL
    if not reply.get("ok"):
        text, kind = str(reply.get("error")), str(reply.get("kind"))
        # rabbitmqctl prints its quoted "Virtual host 'v' does not exist" (delete_vhost,
        # list_permissions) bare, every other refusal after "Error:".
        bare = kind == "NoSuchVhost" and text.startswith("Virtual host '")
        err.write(f"{text}\n" if bare else f"Error:\n{text}\n")
        return EXIT_CODES.get(kind, EX_SOFTWARE)
    result = reply.get("result")
    if cmd.columns:
        rows = result if isinstance(result, list) else []
        silent = "silent" in parsed.flags or not cmd.header
        print_rows(rows, columns, formatter, silent, out)
    else:
        if cmd.output is not None:
            try:
                cmd.output(result, args, out)
            except DataError as error:
                err.write(f"Error:\n{error}\n")
                return EX_DATAERR
        message = cmd.result or ("" if quiet else cmd.done)
        if formatter == "json" and (cmd.result or cmd.done):
            out.write(compact({"message": cmd.result or cmd.done}) + "\n")
        elif message:
            out.write(message + "\n")
    return EX_OK
