"""``leveret ctl``: parse a rabbitmqctl-style command line, run it on the broker, print.

Options may come anywhere, before or after the command, as with rabbitmqctl; ``--`` ends
them (for a password that starts with a dash). Output follows rabbitmqctl 3.10: an info
line ("Listing users ..."), then for listings a tab-separated header and rows; ``-q`` drops
the info line, ``-s`` the header too, ``--formatter json`` prints rabbitmqctl's JSON.

Exit codes (sysexits, as rabbitmqctl): 0 ok; 64 usage; 65 data error (no such vhost, bad
argument, failed authentication); 67 no such user; 69 broker unreachable (or a health check
that found a problem, as rabbitmq-diagnostics); 70 software error (and "already exists", as
rabbitmqctl); 75 timeout; 78 bad configuration.

``leveret diagnostics`` is the same program limited to the node's checks and status, as
rabbitmq-diagnostics beside rabbitmqctl.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from leveret.ctl import diagnostics, resources  # noqa: F401 (they register their commands)
from leveret.ctl.client import Client, Unreachable
from leveret.ctl.commands import (
    COMMANDS,
    EX_CONFIG,
    EX_DATAERR,
    EX_OK,
    EX_UNAVAILABLE,
    EX_USAGE,
    Args,
    Command,
    DataError,
    Failed,
    Output,
    UsageError,
    call,
)
from leveret.ctl.render import compact, print_rows

# The commands of `leveret diagnostics` (the checks, status and the like).
DIAGNOSTICS = frozenset(diagnostics.CHECKS) | {"status", "environment", "ping", "await_startup"}

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
        self.command_flags: set[str] = set()  # long names: "if-empty"
        self.help = False


def parse(argv: Sequence[str]) -> Parsed:
    """Split options from positionals; which options a command accepts is checked later."""
    parsed = Parsed()
    command_options = {f"--{name}" for cmd in COMMANDS.values() for name in cmd.options}
    command_flags = {f"--{name}": name for cmd in COMMANDS.values() for name in cmd.flags}
    for cmd in COMMANDS.values():
        command_flags.update(cmd.short_flags)
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
        elif token in command_flags:
            parsed.command_flags.add(command_flags[token])
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
    for flag in parsed.command_flags:
        if flag not in cmd.flags:
            raise UsageError(f"{cmd.name} takes no option --{flag}")
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
    if cmd.columns:
        args["columns"] = columns  # the broker computes only these
    if cmd.vhost:
        args["vhost"] = parsed.options.get("vhost", "/")
    for name, default in cmd.options.items():
        value = parsed.options.get(f"--{name}", default)
        if value is not None:
            args[name.replace("-", "_")] = value
            if name in cmd.integers:
                if not value.isdigit():
                    raise UsageError(f"--{name} must be a non-negative integer, got '{value}'")
                args[name.replace("-", "_")] = int(value)
    for name in cmd.flags:
        args[name.replace("-", "_")] = name in parsed.command_flags
    return args, columns


def control_socket(parsed: Parsed) -> Path:
    """The control socket of the broker ``leveret serve`` would run with the same options
    and environment (data dir: command line > environment > config file > default)."""
    # Imported here: `leveret ctl help` and usage errors need no settings machinery.
    from leveret.server.config import CONTROL_SOCKET
    from leveret.server.settings import resolve

    given = parsed.options.get("data_dir")
    resolved = resolve({"data_dir": given}, os.environ, parsed.options.get("config"))
    if resolved.data_dir is not None and not resolved.data_dir.strip():
        raise UsageError("--data-dir must not be empty")
    return resolved.data_dir_path() / CONTROL_SOCKET


def starting_broker(path: Path) -> int | None:
    """The pid of a broker that holds the data directory but has not opened its control
    socket yet (it is recovering, say); None if no broker process holds it."""
    from leveret.server.node import DataDirLock  # (only when the broker is not reachable)

    try:
        text = (path.parent / DataDirLock.NAME).read_text().strip()
        pid = int(text)
    except (OSError, ValueError):
        return None  # no lock file, or emptied by a broker that stopped
    try:
        os.kill(pid, 0)
    except PermissionError:
        return pid  # alive, another user's
    except OSError:
        return None  # killed without releasing the lock
    return pid


def usage_text(program: str = "ctl") -> str:
    names = [name for name in COMMANDS if program == "ctl" or name in DIAGNOSTICS]
    width = max(len(name) for name in names)
    lines = [
        f"Usage: leveret {program} [--config FILE] [--data-dir DIR] [-q] [-s] "
        "[--formatter table|json] [-t SECONDS] <command> [<args>]",
        "",
        "Commands:",
    ]
    lines += [f"   {name:<{width}}  {COMMANDS[name].help}" for name in names]
    lines += ["", f"Run `leveret {program} help <command>` for a command's arguments."]
    return "\n".join(lines)


def run(
    argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr, program: str = "ctl"
) -> int:
    try:
        parsed = parse(argv)
    except UsageError as error:
        err.write(f"Error (argument validation): {error}\n\n{usage_text(program)}\n")
        return EX_USAGE
    words = parsed.positionals
    known = {n: c for n, c in COMMANDS.items() if program == "ctl" or n in DIAGNOSTICS}
    if not words or words[0] == "help" or (parsed.help and not words):
        name = words[1] if len(words) > 1 else None
        if name is not None and name in known:
            out.write(f"Usage: {known[name].usage}\n\n{known[name].help}\n")
            return EX_OK
        (out if words else err).write(usage_text(program) + "\n")
        return EX_OK if words or parsed.help else EX_USAGE
    cmd = known.get(words[0])
    if cmd is None:
        err.write(f"Command '{words[0]}' not found.\n\n{usage_text(program)}\n")
        return EX_USAGE
    if parsed.help:
        out.write(f"Usage: {cmd.usage}\n\n{cmd.help}\n")
        return EX_OK
    formatter = parsed.options.get("formatter", "table")
    try:
        if formatter not in FORMATTERS:
            raise UsageError(f"--formatter must be one of {', '.join(FORMATTERS)}")
        args, columns = command_args(cmd, parsed)
        timeout = float(parsed.options.get("timeout", cmd.timeout))
    except (UsageError, ValueError) as error:
        err.write(f"Error (argument validation): {error}\n\nUsage: {cmd.usage}\n")
        return EX_USAGE
    try:
        path = control_socket(parsed)
    except UsageError as error:
        err.write(f"Error (argument validation): {error}\n")
        return EX_USAGE
    except ValueError as error:  # SettingsError, ConfigFileError: as `leveret serve` says
        err.write(f"Error: {error}\n")
        return EX_CONFIG
    silent = "silent" in parsed.flags
    quiet = "quiet" in parsed.flags or silent or formatter == "json"
    output = Output(out, err, formatter, quiet, silent, timeout)
    client = Client(path, timeout)
    try:
        # Connected before the info line, so an unreachable broker is the only thing said.
        connect(client, path, cmd.awaits, timeout)
    except Unreachable as error:
        err.write(f"Error: {error}\n")
        return EX_UNAVAILABLE
    try:
        return execute(client, cmd, args, columns, output)
    except Failed as failure:
        return failure.code
    finally:
        client.close()


def connect(client: Client, path: Path, awaits: bool, timeout: float) -> None:
    """Connect; a broker still starting is waited for if ``awaits`` (await_startup), else
    said to be starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.connect()
            return
        except Unreachable:
            pid = starting_broker(path)
            if pid is None:
                raise
            if not awaits or time.monotonic() >= deadline:
                raise Unreachable(
                    f"the broker (pid {pid}) has not fully started yet: its control socket "
                    f"{path} is not open"
                ) from None
            time.sleep(0.1)


def execute(client: Client, cmd: Command, args: Args, columns: list[str], output: Output) -> int:
    if cmd.runner is not None:
        return cmd.runner(client, args, output)
    if cmd.timeout_line:
        output.info(f"Timeout: {output.timeout:.1f} seconds ...")
    if cmd.info:
        output.info(cmd.info_line(args))
    try:
        request = cmd.prepare(args) if cmd.prepare is not None else args
    except DataError as error:
        output.err.write(f"Error:\n{error}\n")
        return EX_DATAERR
    result = call(client, cmd.name, request, output)
    if cmd.columns:
        rows = result if isinstance(result, list) else []
        print_rows(
            rows,
            columns,
            formatter=output.formatter,
            header=not output.silent and cmd.header,
            out=output.out,
            styles=cmd.styles,
            streamed=cmd.streamed,
        )
        return EX_OK
    if cmd.report is not None:
        return cmd.report(result, args, output)
    if cmd.output is not None:
        try:
            cmd.output(result, args, output.out)
        except DataError as error:
            output.err.write(f"Error:\n{error}\n")
            return EX_DATAERR
    message = cmd.result or ("" if output.quiet else cmd.done)
    if output.json and (cmd.result or cmd.done):
        output.out.write(compact({"message": cmd.result or cmd.done}) + "\n")
    elif message:
        output.out.write(message + "\n")
    return EX_OK
