"""Admin errors. Their texts are rabbitmqctl's, so a CLI built on them reads the same."""

from __future__ import annotations


class AccessError(Exception):
    """An admin operation was refused; str() is the message rabbitmqctl prints."""


class AlreadyExists(AccessError):
    pass


class NoSuchUser(AccessError):
    pass


class NoSuchVhost(AccessError):
    pass


class InvalidArgument(AccessError):
    pass


class AuthenticationFailed(AccessError):
    pass


def no_such_user(name: str, quoted: bool = True) -> NoSuchUser:
    # rabbitmqctl quotes the name for user commands, not for permission commands.
    return NoSuchUser(f'User "{name}" does not exist' if quoted else f"User {name} does not exist")


def no_such_vhost(name: str, quoted: bool = False) -> NoSuchVhost:
    return NoSuchVhost(
        f"Virtual host '{name}' does not exist" if quoted else f"Virtual host {name} does not exist"
    )
