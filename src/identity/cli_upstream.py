"""``identity upstream``: the external OpenID providers shoppers may sign in with.

The providers live in the file ``IDENTITY_UPSTREAM_FILE`` (default ``var/upstream.json``);
these commands edit it (owner-readable only: it holds client secrets) and the running server
reads it again on its next request. Adding and removing are audited.
"""

from __future__ import annotations

import json

import click

from identity.cli_support import operator as operator_actor
from identity.cli_support import operator_option
from identity.cli_support import runtime as _runtime


@click.group()
def upstream() -> None:
    """External OpenID providers ("Sign in with Google")."""


@upstream.command("add")
@click.argument("key")
@click.option("--issuer", required=True, help="e.g. https://accounts.google.com")
@click.option("--client-id", required=True)
@click.option(
    "--client-secret", prompt=True, hide_input=True, envvar="IDENTITY_UPSTREAM_CLIENT_SECRET",
    help="prompted for when not given (or IDENTITY_UPSTREAM_CLIENT_SECRET)",
)  # fmt: skip
@click.option("--name", "display_name", required=True, help='on the button: "Google"')
@click.option("--scopes", default="openid email profile", show_default=True)
@click.option("--check/--no-check", default=True, help="fetch the discovery document first")
@operator_option
def upstream_add(
    key: str,
    issuer: str,
    client_id: str,
    client_secret: str,
    display_name: str,
    scopes: str,
    check: bool,
    operator: str,
) -> None:
    """Add (or replace) provider KEY; prints the redirect URI to register there."""
    from identity import audit
    from identity.upstream.client import UpstreamProblem
    from identity.upstream.config import ConfigError, provider_from
    from identity.upstream.wiring import loopback_http_allowed

    actor = operator_actor(operator)
    runtime = _runtime()
    entry = {"issuer": issuer, "client_id": client_id, "client_secret": client_secret,
             "display_name": display_name, "scopes": scopes}  # fmt: skip
    try:
        provider = provider_from(
            key, entry, allow_loopback_http=loopback_http_allowed(runtime.settings)
        )
        if check:
            runtime.upstream.client.metadata(provider)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    except UpstreamProblem as exc:
        raise click.ClickException(f"{issuer}: discovery failed ({exc})") from exc
    runtime.upstream.registry.add(provider)
    with runtime.db.transaction() as session:
        audit.record(session, "upstream.provider_added", actor=actor, details={"provider": key})
    click.echo(
        json.dumps({**provider.public(), "redirect_uri": runtime.upstream.redirect_uri(key)})
    )


@upstream.command("list")
def upstream_list() -> None:
    """One JSON line per provider (never the client secret)."""
    runtime = _runtime()
    for provider in runtime.upstream.registry.all().values():
        public = {**provider.public(), "redirect_uri": runtime.upstream.redirect_uri(provider.key)}
        click.echo(json.dumps(public))


@upstream.command("remove")
@click.argument("key")
@operator_option
def upstream_remove(key: str, operator: str) -> None:
    """Remove provider KEY: its button goes; accounts keep their links (adding it back with
    the same issuer restores them), and sign-ins with it are refused meanwhile."""
    from identity import audit

    actor = operator_actor(operator)
    runtime = _runtime()
    if not runtime.upstream.registry.remove(key):
        raise click.ClickException(f"no provider {key!r}")
    with runtime.db.transaction() as session:
        audit.record(session, "upstream.provider_removed", actor=actor, details={"provider": key})
    click.echo(f"removed {key}")
