"""What every ``identity`` command starts from: the settings and the wired services."""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError

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


def operator() -> str:
    """Who runs the command, as audit entries name them: ``IDENTITY_OPERATOR`` when a wrapper
    (a runbook, a bastion) knows the person, else the OS account."""
    import getpass
    import os

    return os.environ.get("IDENTITY_OPERATOR") or getpass.getuser()
