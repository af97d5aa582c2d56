"""Officers' accounts from the command line: the officer role, and a lost second factor.
No web request can grant a role or remove a factor someone else enrolled."""

from __future__ import annotations

import json

import click

from identity.cli_support import operator as operator_actor
from identity.cli_support import operator_option
from identity.cli_support import runtime as _runtime


@click.command("grant-role")
@click.option("--email", required=True)
@click.argument("role", type=click.Choice(["officer"]))
@operator_option
def users_grant_role(email: str, role: str, operator: str) -> None:
    """Give an account a role (``officer`` opens /admin, with a second factor)."""
    _change_role(email, role, operator, grant=True)


@click.command("revoke-role")
@click.option("--email", required=True)
@click.argument("role", type=click.Choice(["officer"]))
@operator_option
def users_revoke_role(email: str, role: str, operator: str) -> None:
    """Take a role away from an account."""
    _change_role(email, role, operator, grant=False)


def _change_role(email: str, role: str, name: str, *, grant: bool) -> None:
    from identity.errors import NotFound

    operator_actor(name)  # a login name, never an email address
    runtime = _runtime()
    accounts = runtime.accounts
    change = accounts.grant_role if grant else accounts.revoke_role
    try:
        changed = change(email, role, operator=name)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        runtime.close()
    click.echo(json.dumps({"email": email.strip().lower(), "role": role, "changed": changed}))


@click.command("remove-second-factor")
@click.option("--email", required=True)
@operator_option
def users_remove_second_factor(email: str, operator: str) -> None:
    """Remove an account's second factor (a lost phone and no recovery code left), audited
    with the operator; the account signs in with its password and may enrol again."""
    operator_actor(operator)  # a login name, never an email address
    runtime = _runtime()
    try:
        removed = runtime.mfa.remove_for_operator(email, operator=operator)
    finally:
        runtime.close()
    click.echo(json.dumps({"email": email.strip().lower(), "removed": removed}))
