"""What every ``identity`` command starts from: the settings and the wired services."""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable
from typing import Any

import click
from pydantic import ValidationError

from identity.audit.refs import Actor
from identity.settings import Settings, describe_errors


def settings() -> Settings:
    try:
        return Settings.load()
    except ValidationError as exc:
        raise click.ClickException(describe_errors(exc)) from exc


def runtime() -> Any:
    """The wired services; a bad purpose file stops here with its file and field named."""
    from identity.consent.policy import PolicyError
    from identity.runtime import Runtime

    try:
        return Runtime.build(settings())
    except PolicyError as exc:
        raise click.ClickException(f"invalid purpose file: {exc}") from exc


OPERATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return "cli"


def operator_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--operator NAME``: who runs the command, for the audit log (default: the OS user)."""
    return click.option(
        "--operator",
        "operator",
        default=_os_user,
        show_default="the OS user",
        help="Who is running this, as the audit log names them (operator:<name>).",
    )(command)


def operator(name: str) -> Actor:
    """The audit actor for ``--operator``: a login name, never an email address."""
    if not OPERATOR_NAME.match(name):
        raise click.BadParameter(
            "letters, digits, '.', '_' or '-' (a login name, not an email address)",
            param_hint="--operator",
        )
    return Actor.operator(name)
