"""``leveret ctl``'s commands: rabbitmqctl's names, argument order, messages and columns.

A command is a ``Command`` entry in ``COMMANDS``: its positional arguments (sent to the
broker under those names), whether it takes ``-p VHOST``, the info line printed before it
runs, and for a listing its columns. The broker side is the operation of the same name in
broker/admin/operations.py. A command whose arguments need converting before they are sent
(JSON limits, comma-separated tags) gives ``prepare``; one whose output depends on the
result gives ``report``; one that makes several requests gives ``runner``.

Users, vhosts, permissions and definitions are here; queues, exchanges, bindings,
connections, channels and consumers in ``resources``; the node and its health checks in
``diagnostics``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from leveret.ctl.client import Client, TimedOut, Unreachable

Args = dict[str, Any]

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
    # delete_queue's refusals: rabbitmqctl exits 64 for them.
    "QueueRefused": EX_USAGE,
    # rabbitmqctl exits 69 for an invalid policy and for clearing one that is not there.
    "PolicyRefused": EX_UNAVAILABLE,
}


class UsageError(Exception):
    """Bad command line: exit 64 (EX_USAGE)."""


class DataError(Exception):
    """An argument the command cannot use (bad JSON...): exit 65 (EX_DATAERR)."""


class Failed(Exception):
    """The command failed and said why on stderr already; exit with ``code``."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


@dataclass
class Output:
    """Where and how a command prints."""

    out: TextIO
    err: TextIO
    formatter: str  # "table" or "json"
    quiet: bool  # -q, -s or JSON: no info line
    silent: bool  # -s: no header either
    timeout: float  # -t, seconds

    @property
    def json(self) -> bool:
        return self.formatter == "json"

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def info(self, text: str) -> None:
        """An informational line: not with -q, -s or --formatter json."""
        if text and not self.quiet:
            self.line(text)

    def json_line(self, value: object) -> None:
        self.line(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def call(client: Client, name: str, args: Args, output: Output) -> Any:
    """One request; its result. A refusal or a lost broker is printed, then Failed."""
    try:
        reply = client.call(name, args)
    except Unreachable as error:
        output.err.write(f"Error: {error}\n")
        raise Failed(EX_UNAVAILABLE) from None
    except TimedOut as error:
        output.err.write(f"Error: {error}\n")
        raise Failed(EX_TEMPFAIL) from None
    if not reply.get("ok"):
        text, kind = str(reply.get("error")), str(reply.get("kind"))
        # rabbitmqctl prints its quoted "Virtual host 'v' does not exist" (delete_vhost,
        # list_permissions) bare, every other refusal after "Error:".
        bare = kind == "NoSuchVhost" and text.startswith("Virtual host '")
        output.err.write(f"{text}\n" if bare else f"Error:\n{text}\n")
        raise Failed(EXIT_CODES.get(kind, EX_SOFTWARE))
    return reply.get("result")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    # Required positional arguments, by the names the broker operation reads.
    args: tuple[str, ...] = ()
    # Optional positional arguments after those.
    optional: tuple[str, ...] = ()
    # The name under which any further positionals are sent, as a list (set_user_tags).
    rest: str | None = None
    # Takes -p/--vhost VHOST (default "/"), sent as "vhost".
    vhost: bool = False
    # Long options taking a value ("description" for --description), sent under their names
    # with dashes made underscores; absent ones are not sent. The value is the default.
    options: dict[str, str | None] = field(default_factory=dict)
    # Of those, the ones whose value must be a non-negative integer (sent as a number).
    integers: tuple[str, ...] = ()
    # Boolean options (--if-empty), sent as true or false, and their short forms
    # ({"-e": "if-empty"}).
    flags: tuple[str, ...] = ()
    short_flags: dict[str, str] = field(default_factory=dict)
    # The line printed before the command runs (not with -q, -s or --formatter json),
    # formatted with the arguments.
    info: str | Callable[[Args], str] = ""
    # "Timeout: 60.0 seconds ..." before the info line, as rabbitmqctl's list_queues.
    timeout_line: bool = False
    # For listings: the columns shown by default, and all that may be asked for (extra
    # positionals name columns, as in rabbitmqctl); empty: not a listing.
    columns: tuple[str, ...] = ()
    all_columns: tuple[str, ...] = ()
    # How special columns print in a table (render.TABLE, render.TUPLE).
    styles: dict[str, str] = field(default_factory=dict)
    # Whether a listing prints its header line (rabbitmqctl's list_user_topic_permissions
    # does not).
    header: bool = True
    # rabbitmqctl streams the listing: empty, its JSON is "[" and "]" on two lines.
    streamed: bool = False
    # Printed on success: ``done`` (only without -q) and ``result`` (always).
    done: str = ""
    result: str = ""
    # Turns the parsed arguments into the operation's; raises DataError.
    prepare: Callable[[Args], Args] | None = None
    # Prints a command's result that is not a listing (export_definitions' JSON, say),
    # given the result, the arguments and stdout.
    output: Callable[[object, Args, TextIO], None] | None = None
    # Prints the result in full and returns the exit code (health checks, status...).
    report: Callable[[Any, Args, Output], int] | None = None
    # Runs the whole command with the connected client (several requests, delays).
    runner: Callable[[Client, Args, Output], int] | None = None
    # Waits, up to the timeout, for a broker that is starting (await_startup).
    awaits: bool = False
    # The default of -t, in seconds.
    timeout: float = 60.0

    @property
    def usage(self) -> str:
        words = ["leveret ctl", self.name]
        if self.vhost:
            words.append("[-p <vhost>]")
        words += [f"[--{name}]" for name in self.flags]
        words += [f"[--{name} <{name}>]" for name in self.options]
        words += [f"<{name}>" for name in self.args]
        words += [f"[<{name}>]" for name in self.optional]
        if self.rest is not None:
            words.append(f"<{self.rest[:-1] if self.rest.endswith('s') else self.rest}> ...")
        if self.columns:
            words.append("[<column> ...]")
        return " ".join(words)

    def info_line(self, args: Args) -> str:
        return self.info(args) if callable(self.info) else self.info.format(**args)


COMMANDS: dict[str, Command] = {}


def command(cmd: Command) -> Command:
    COMMANDS[cmd.name] = cmd
    return cmd


def parse_limits(args: Args) -> Args:
    """The limits argument is a JSON object, as rabbitmqctl's ('{"max-connections": 10}')."""
    try:
        limits = json.loads(args["definition"])
    except ValueError as error:
        raise DataError(f"JSON decoding error. Reason: {error}") from None
    if not isinstance(limits, dict):
        raise DataError("limits must be a JSON object, e.g. '{\"max-connections\": 10}'")
    return {**args, "limits": limits}


def password_from_stdin(args: Args) -> Args:
    """As rabbitmqctl: a password left off the command line is read from stdin (one line),
    so that it need not appear in the process list or the shell history."""
    if args.get("password") is not None:
        return args
    password = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.readline()
    password = password.removesuffix("\n").removesuffix("\r")
    if not password:
        raise DataError("Password is not provided via argument or stdin")
    return {**args, "password": password}


def split_tags(args: Args) -> Args:
    tags = args.get("tags")
    split = [t.strip() for t in tags.split(",") if t.strip()] if isinstance(tags, str) else []
    return {**args, "tags": split}


def print_limits(result: object, args: Args, out: TextIO) -> None:
    """Limits print as one JSON object, as rabbitmqctl's list_*_limits."""
    out.write(json.dumps(result, separators=(",", ":")) + "\n")


def tag_list(tags: list[str]) -> str:
    return f"[{', '.join(tags)}]"


DONE_ADD_USER = (
    "Done. Don't forget to grant the user permissions to some virtual hosts! "
    "See 'leveret ctl help set_permissions' to learn more."
)

# -- users -----------------------------------------------------------------------------------

command(Command(
    "add_user", "Creates a user (without permissions); no password: read from stdin.",
    args=("user",), optional=("password",), prepare=password_from_stdin,
    info='Adding user "{user}" ...', done=DONE_ADD_USER,
))  # fmt: skip
command(Command(
    "delete_user", "Deletes a user; its connections are closed.", args=("user",),
    info='Deleting user "{user}" ...',
))  # fmt: skip
command(Command(
    "change_password", "Changes a user's password; no password: read from stdin.",
    args=("user",), optional=("password",), prepare=password_from_stdin,
    info='Changing password for user "{user}" ...',
))  # fmt: skip
command(Command(
    "clear_password", "Clears a user's password: it can no longer log in with one.",
    args=("user",), info='Clearing password for user "{user}" ...',
))  # fmt: skip
command(Command(
    "authenticate_user", "Checks a user's password (read from stdin if not given).",
    args=("user",), optional=("password",), prepare=password_from_stdin,
    info='Authenticating user "{user}" ...', result="Success",
))  # fmt: skip
command(Command(
    "set_user_tags", "Sets a user's tags (none clears them).", args=("user",), rest="tags",
    info=lambda a: f'Setting tags for user "{a["user"]}" to {tag_list(a["tags"])} ...',
))  # fmt: skip
command(Command(
    "list_users", "Lists users and their tags.", info="Listing users ...",
    columns=("user", "tags"), all_columns=("user", "tags"),
))  # fmt: skip
command(Command(
    "set_user_limits", "Sets user limits (max-connections, max-channels) from JSON.",
    args=("user", "definition"), prepare=parse_limits,
    info='Setting user limits to "{definition}" for user "{user}" ...',
))  # fmt: skip
command(Command(
    "clear_user_limits", "Clears one user limit, or all.", args=("user", "limit"),
    info=lambda a: (
        f'Clearing all limits for user "{a["user"]}" ...' if a["limit"] == "all"
        else f'Clearing "{a["limit"]}" limit for user "{a["user"]}" ...'
    ),
))  # fmt: skip
command(Command(
    "list_user_limits", "Shows a user's limits.", options={"user": "guest"},
    info='Listing limits for user "{user}" ...', output=print_limits,
))  # fmt: skip

# -- vhosts ----------------------------------------------------------------------------------

command(Command(
    "add_vhost", "Creates a virtual host (nothing happens if it exists).", args=("vhost",),
    options={"description": None, "tags": None, "default-queue-type": None},
    prepare=split_tags, info='Adding vhost "{vhost}" ...',
))  # fmt: skip
command(Command(
    "delete_vhost", "Deletes a virtual host with its queues, exchanges and permissions.",
    args=("vhost",), info='Deleting vhost "{vhost}" ...',
))  # fmt: skip
command(Command(
    "list_vhosts", "Lists virtual hosts.", info="Listing vhosts ...", columns=("name",),
    all_columns=("name", "description", "tags", "default_queue_type", "tracing"),
))  # fmt: skip
command(Command(
    "set_vhost_limits", "Sets vhost limits (max-connections, max-queues) from JSON.",
    args=("definition",), vhost=True, prepare=parse_limits,
    info='Setting vhost limits to "{definition}" for vhost "{vhost}" ...',
))  # fmt: skip
command(Command(
    "clear_vhost_limits", "Clears a vhost's limits.", vhost=True,
    info='Clearing vhost "{vhost}" limits ...',
))  # fmt: skip
command(Command(
    "list_vhost_limits", "Shows a vhost's limits.", vhost=True,
    info='Listing limits for vhost "{vhost}" ...', output=print_limits,
))  # fmt: skip

# -- permissions -----------------------------------------------------------------------------

PERMISSION_COLUMNS = ("configure", "write", "read")
TOPIC_COLUMNS = ("exchange", "write", "read")

command(Command(
    "set_permissions", "Sets a user's permissions in a vhost.", vhost=True,
    args=("user", "configure", "write", "read"),
    info='Setting permissions for user "{user}" in vhost "{vhost}" ...',
))  # fmt: skip
command(Command(
    "clear_permissions", "Revokes a user's permissions in a vhost.", vhost=True,
    args=("user",), info='Clearing permissions for user "{user}" in vhost "{vhost}" ...',
))  # fmt: skip
command(Command(
    "list_permissions", "Lists the permissions in a vhost.", vhost=True,
    info='Listing permissions for vhost "{vhost}" ...', columns=("user", *PERMISSION_COLUMNS),
    all_columns=("user", *PERMISSION_COLUMNS),
))  # fmt: skip
command(Command(
    "list_user_permissions", "Lists a user's permissions in every vhost.", args=("user",),
    info='Listing permissions for user "{user}" ...', columns=("vhost", *PERMISSION_COLUMNS),
    all_columns=("vhost", *PERMISSION_COLUMNS),
))  # fmt: skip
command(Command(
    "set_topic_permissions", "Sets a user's topic permissions on an exchange.", vhost=True,
    args=("user", "exchange", "write", "read"),
    info='Setting topic permissions on "{exchange}" for user "{user}" in vhost "{vhost}" ...',
))  # fmt: skip
command(Command(
    "clear_topic_permissions", "Clears a user's topic permissions (on one exchange if named).",
    vhost=True, args=("user",), optional=("exchange",),
    info=lambda a: (
        f'Clearing topic permissions on "{a["exchange"]}" for user "{a["user"]}" '
        f'in vhost "{a["vhost"]}" ...' if a.get("exchange") is not None
        else f'Clearing topic permissions for user "{a["user"]}" in vhost "{a["vhost"]}" ...'
    ),
))  # fmt: skip
command(Command(
    "list_topic_permissions", "Lists the topic permissions in a vhost.", vhost=True,
    info='Listing topic permissions for vhost "{vhost}" ...', columns=("user", *TOPIC_COLUMNS),
    all_columns=("user", *TOPIC_COLUMNS),
))  # fmt: skip
command(Command(
    "list_user_topic_permissions", "Lists a user's topic permissions.", args=("user",),
    info='Listing topic permissions for user "{user}" ...',
    columns=("vhost", *TOPIC_COLUMNS), all_columns=("vhost", *TOPIC_COLUMNS), header=False,
))  # fmt: skip

# -- definitions -----------------------------------------------------------------------------


def read_definitions(args: Args) -> Args:
    """The file (none or ``-``: stdin) is read here, on the client side: the broker's OS
    user may not be able to read the caller's files."""
    path = args.get("path") or "-"
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        data = json.loads(text)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise DataError(f"JSON decoding error in {path}. Reason: {error}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: a definitions file is a JSON object")
    return {**args, "definitions": data}


def export_report(result: object, args: Args, output: Output) -> int:
    """As rabbitmqctl: compact JSON with sorted keys and no newline after it, to the file
    or (``-``) stdout; with --formatter json, stdout gets it as the message of a JSON
    object."""
    text = json.dumps(result, separators=(",", ":"), sort_keys=True)
    path = args["path"]
    if path == "-":
        if output.json:
            output.json_line({"message": text})
        else:
            output.out.write(text)
        return EX_OK
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        output.err.write(f"Error:\ncannot write {path}: {error.strerror}\n")
        return EX_DATAERR
    return EX_OK


def import_report(result: Any, args: Args, output: Output) -> int:
    """Parts of the file Leveret skipped (policies, say), one ``warning:`` line each on
    stderr; then rabbitmqctl's confirmation. The import is complete when the command
    returns (rabbitmqctl's only starts it)."""
    for warning in result.get("warnings", []) if isinstance(result, dict) else []:
        output.err.write(f"warning: {warning}\n")
    if output.json:  # (sic: no newline after it, as rabbitmqctl)
        output.out.write(
            json.dumps({"node": result.get("node"), "result": "ok"}, separators=(",", ":"))
        )
    else:
        output.info("Successfully imported definitions.")
    return EX_OK


command(Command(
    "export_definitions", "Exports users, vhosts, permissions, exchanges, queues and "
    "bindings to a file (-: stdout), in RabbitMQ's JSON format.", args=("path",),
    # No info line when the JSON goes to stdout: it must stay parseable.
    info=lambda args: "" if args["path"] == "-" else (
        f'Exporting definitions in JSON to a file at "{args["path"]}" ...'
    ),
    report=export_report,
))  # fmt: skip
command(Command(
    "import_definitions", "Imports a definitions file (none or -: stdin) in RabbitMQ's JSON "
    "format.", optional=("path",), prepare=read_definitions,
    info=lambda args: (
        "Importing definitions in JSON from standard input ..." if args["path"] in (None, "-")
        else f'Importing definitions in JSON from a file at "{args["path"]}" ...'
    ),
    report=import_report,
))  # fmt: skip


# -- policies --------------------------------------------------------------------------------

POLICY_COLUMNS = ("vhost", "name", "pattern", "apply-to", "definition", "priority")


def parse_definition(args: Args) -> Args:
    """The definition is a JSON object, as rabbitmqctl's ('{"max-length": 10}')."""
    try:
        definition = json.loads(args["definition"])
    except ValueError as error:
        raise DataError(f"JSON decoding error. Reason: {error}") from None
    return {**args, "definition": definition}


def _setting_policy(kind: str) -> Callable[[Args], str]:
    def line(a: Args) -> str:
        return (
            f'Setting {kind} "{a["name"]}" for pattern "{a["pattern"]}" to "{a["definition"]}" '
            f'with priority "{a.get("priority", "0")}" for vhost "{a["vhost"]}" ...'
        )

    return line


for _prefix, _kind, _listed, _what in (
    ("", "policy", "policies", "a policy"),
    ("operator_", "operator policy override", "operator policy overrides", "an operator policy"),
):
    command(Command(
        f"set_{_prefix}policy", f"Sets {_what}: a JSON definition for the names a regex matches.",
        args=("name", "pattern", "definition"), vhost=True,
        options={"priority": "0", "apply-to": "all"}, prepare=parse_definition,
        info=_setting_policy(_kind),
    ))  # fmt: skip
    command(Command(
        f"clear_{_prefix}policy", f"Clears {_what}.", args=("name",), vhost=True,
        info=f'Clearing {_kind.removesuffix(" override")} "{{name}}" on vhost "{{vhost}}" ...',
    ))  # fmt: skip
    command(Command(
        f"list_{_prefix}policies", f"Lists the {_listed} of a vhost.", vhost=True,
        info=f'Listing {_listed} for vhost "{{vhost}}" ...', columns=POLICY_COLUMNS,
        all_columns=POLICY_COLUMNS,
    ))  # fmt: skip
