"""Operators' lifecycle commands: accounts and clients listed, disabled, enabled; a client's
deletion and secret; a key's retirement; housekeeping. ``cli.py`` adds each to its group.

Every command is an audit entry naming its operator (``--operator``, default the OS user).
Lists print one line per item, or one JSON object per line with ``--json`` (JSON Lines: they
stream, and ``jq`` reads them). Nothing printed holds a password hash or a secret's digest; a
new client secret is printed once, as ``clients create`` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from identity.cli_support import operator as operator_actor
from identity.cli_support import operator_option
from identity.cli_support import runtime as _runtime


@contextmanager
def _services() -> Iterator[Any]:
    """The runtime, with the domain's refusals (unknown, conflicting, invalid) as CLI errors."""
    from identity.errors import DomainError

    runtime = _runtime()
    try:
        yield runtime
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        runtime.close()


def _echo(value: dict[str, Any]) -> None:
    click.echo(json.dumps(value))


json_option: Callable[[Any], Any] = click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per line."
)

# -- users ------------------------------------------------------------------------------------


@click.command("list")
@json_option
@click.option("--disabled", "disabled_only", is_flag=True, help="Only disabled accounts.")
@operator_option
def users_list(as_json: bool, disabled_only: bool, operator: str) -> None:
    """Every account by email: sub, email, verified, status (never a password hash)."""
    actor = operator_actor(operator)
    with _services() as runtime:
        for account in runtime.operations.standing.listing(
            actor=actor, disabled_only=disabled_only
        ):
            if as_json:
                _echo(account.as_json())
                continue
            status = "disabled" if account.disabled_at else "active"
            verified = "verified" if account.email_verified else "unverified"
            click.echo(f"{account.sub}  {account.email}  {verified}  {status}")


@click.command("disable")
@click.option("--email", required=True)
@click.option(
    "--reason",
    required=True,
    help="Why (a ticket number, a short why): kept in the audit log forever, so no names or "
    "email addresses.",
)
@operator_option
def users_disable(email: str, reason: str, operator: str) -> None:
    """Disable an account: sign-in refused, its sessions end, its tokens are revoked."""
    actor = operator_actor(operator)
    with _services() as runtime:
        done = runtime.operations.standing.disable(email, reason, actor=actor)
    _echo(
        {
            "sub": done.sub,
            "disabled": True,
            "sessions_ended": done.sessions_ended,
            "grants_revoked": done.grants_revoked,
        }
    )


@click.command("enable")
@click.option("--email", required=True)
@operator_option
def users_enable(email: str, operator: str) -> None:
    """Let a disabled account sign in again (ended sessions and tokens stay ended)."""
    actor = operator_actor(operator)
    with _services() as runtime:
        account = runtime.operations.standing.enable(email, actor=actor)
    _echo({"sub": account.sub, "disabled": False})


# -- clients ----------------------------------------------------------------------------------


@click.command("list")
@json_option
@operator_option
def clients_list(as_json: bool, operator: str) -> None:
    """Every client, disabled and deleted ones included (never a secret)."""
    actor = operator_actor(operator)
    with _services() as runtime:
        listing = runtime.operations.clients.listing(actor=actor)
    for client in listing:
        if as_json:
            _echo(client.as_json())
        else:
            click.echo(f"{client.client_id}  {client.status}  {client.auth_method}  {client.name}")


@click.command("disable")
@click.option("--client-id", required=True)
@click.option("--reason", default=None, help="Why, for the audit log.")
@operator_option
def clients_disable(client_id: str, reason: str | None, operator: str) -> None:
    """Pause a client: no authorization, no tokens (invalid_client), its tokens inactive.
    Its grants are kept: enabling it resumes them."""
    actor = operator_actor(operator)
    with _services() as runtime:
        client = runtime.operations.clients.disable(client_id, actor=actor, reason=reason)
    _echo({"client_id": client.client_id, "status": client.status})


@click.command("enable")
@click.option("--client-id", required=True)
@operator_option
def clients_enable(client_id: str, operator: str) -> None:
    """Let a disabled client work again."""
    actor = operator_actor(operator)
    with _services() as runtime:
        client = runtime.operations.clients.enable(client_id, actor=actor)
    _echo({"client_id": client.client_id, "status": client.status})


@click.command("delete")
@click.option("--client-id", required=True)
@click.confirmation_option(prompt="Delete the client and revoke everything it holds?")
@operator_option
def clients_delete(client_id: str, operator: str) -> None:
    """Delete a client for good: every grant revoked, its consents forgotten, its webhooks and
    undelivered messages dropped. Its id is never given to another client."""
    actor = operator_actor(operator)
    with _services() as runtime:
        done = runtime.operations.clients.delete(client_id, actor=actor)
    _echo(
        {
            "client_id": done.client_id,
            "status": "deleted",
            "grants_revoked": done.grants_revoked,
            "consents_forgotten": done.consents_forgotten,
            "messages_dropped": done.messages_dropped,
            "subscriptions_ended": done.subscriptions_ended,
        }
    )


@click.command("reset-secret")
@click.option("--client-id", required=True)
@operator_option
def clients_reset_secret(client_id: str, operator: str) -> None:
    """Issue a new client secret (printed once; only its digest is stored). The old one
    stops working."""
    actor = operator_actor(operator)
    with _services() as runtime:
        secret = runtime.operations.clients.reset_secret(client_id, actor=actor)
    _echo({"client_id": client_id, "client_secret": secret})


@click.command("revoke-secret")
@click.option("--client-id", required=True)
@operator_option
def clients_revoke_secret(client_id: str, operator: str) -> None:
    """The client can no longer authenticate with its secret (reset-secret gives a new one)."""
    actor = operator_actor(operator)
    with _services() as runtime:
        runtime.operations.clients.revoke_secret(client_id, actor=actor)
    _echo({"client_id": client_id, "has_secret": False})


# -- keys -------------------------------------------------------------------------------------


@click.command("retire")
@click.option("--kid", required=True)
@operator_option
def keys_retire(kid: str, operator: str) -> None:
    """Stop signing with a key now. A token key also leaves /jwks at once (what it signed
    stops verifying); a receipt key stays published forever. The key that signs can be
    retired only once the key that would replace it is published."""
    actor = operator_actor(operator)
    with _services() as runtime:
        store = next((s for s in (runtime.keys, runtime.receipt_keys) if s.holds(kid)), None)
        if store is None:
            raise click.ClickException(f"no key {kid}")
        retired = store.retire(kid, actor=actor)
    _echo(
        {
            "kid": retired.kid,
            "alg": retired.alg,
            "for": store.purpose.value,
            "retired_at": retired.retired_at.isoformat() if retired.retired_at else None,
        }
    )


# -- housekeeping -----------------------------------------------------------------------------


@click.group()
def housekeeping() -> None:
    """Deleting expired rows (the server also does this every IDENTITY_HOUSEKEEPING_INTERVAL)."""


@housekeeping.command("run")
@operator_option
def housekeeping_run(operator: str) -> None:
    """One pass now, in short batches; prints how many rows went from each table (JSON)."""
    actor = operator_actor(operator)
    with _services() as runtime:
        counts = runtime.operations.housekeeping.run_once(actor=actor)
    click.echo(json.dumps(counts, indent=2))
