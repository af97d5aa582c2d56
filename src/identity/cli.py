"""The ``identity`` command: serve, migrate, seed, manage users, verify the audit log."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from identity import cli_lifecycle as lifecycle
from identity import cli_officers as officers
from identity.cli_audit import audit
from identity.cli_consent import consent
from identity.cli_dsr import dsr, erase_subject
from identity.cli_support import operator_option
from identity.cli_support import runtime as _runtime
from identity.cli_support import settings as _settings
from identity.cli_upstream import upstream


@click.group()
def main() -> None:
    """Customer identity, single sign-on and privacy preference center."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web pages, the OpenID provider and the API."""
    import uvicorn

    from identity.consent.policy import PolicyError, load_catalog
    from identity.resources import resource_dir

    settings = _settings()  # validate (and create the dev secret) before any worker starts
    try:
        load_catalog(settings.policies_dir or resource_dir("policies"))
    except PolicyError as exc:
        raise click.ClickException(f"invalid purpose file: {exc}") from exc
    os.environ.setdefault("IDENTITY_DATABASE_URL", settings.database_url)
    uvicorn.run(
        "identity.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        access_log=False,
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from identity.schema import upgrade

    upgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


@main.group()
def demo() -> None:
    """Demo data for trying the product."""


@demo.command("seed")
@click.option(
    "--rp-url",
    default="http://127.0.0.1:8001",
    show_default=True,
    help="Where `identity demo rp` runs: the channels' redirect URIs are registered there.",
)
def demo_seed(rp_url: str) -> None:
    """Create the demo accounts and channels (idempotent)."""
    from identity.demo import seed
    from identity.settings import Environment

    settings = _settings()
    if settings.env is Environment.production:
        raise click.ClickException("demo data is not for production databases")
    runtime = _runtime()
    try:
        for line in seed(runtime, rp_url):
            click.echo(line)
    finally:
        runtime.close()


@demo.command("rp")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
def demo_rp(host: str, port: int) -> None:
    """Serve the demo relying party: the store, app and marketplace channels.

    The channels are registered for this host and port first (as `demo seed --rp-url`),
    so the demo runs on any port."""
    from identity.demo import seed_clients
    from identity.demo_rp import CredentialsMissing, serve
    from identity.settings import Environment

    settings = _settings()
    if settings.env is Environment.production:
        raise click.ClickException("the demo relying party is not for production databases")
    runtime = _runtime()
    try:
        public = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        for line in seed_clients(runtime, f"http://{public}:{port}"):
            click.echo(line)
    finally:
        runtime.close()
    try:
        serve(host, port, settings.issuer, settings.var_dir / "demo-clients.json")
    except CredentialsMissing as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def users() -> None:
    """Customer accounts."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from stdin.")
@click.option("--name", default="")
@click.option("--locale", type=click.Choice(["es", "en"]), default="en", show_default=True)
@click.option("--verified", is_flag=True, help="Mark the email address as verified.")
def users_create(email: str, password_stdin: bool, name: str, locale: str, verified: bool) -> None:
    """Create an account; prints JSON with its ``sub``."""
    from identity.accounts.service import InvalidForm
    from identity.errors import Conflict

    password = sys.stdin.readline().rstrip("\r\n")
    runtime = _runtime()
    try:
        user = runtime.accounts.create(
            email=email,
            password=password,
            name=name or email.split("@")[0],
            locale=locale,
            verified=verified,
        )
    except InvalidForm as exc:
        raise click.ClickException("refused: " + ", ".join(p.value for p in exc.problems)) from exc
    except Conflict as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        runtime.close()
    click.echo(json.dumps({"sub": user.sub, "email": user.email, "verified": user.email_verified}))


@users.command("delete")
@click.option("--email", required=True)
@click.option("--reason", required=True, help="Why (kept and audited: no personal details).")
@operator_option
def users_delete(email: str, reason: str, operator: str) -> None:
    """Erase the account at once, as `identity dsr erase --now` does (audited as operator)."""
    erase_subject(email, reason, now=True, operator_name=operator)


# The client registration's fields, as this command's flags (for its error messages).
FLAGS = {
    "name": "--name",
    "redirect_uris": "--redirect-uri",
    "post_logout_redirect_uris": "--post-logout-redirect-uri",
    "grant_types": "--grant-type",
    "scope": "--scope",
    "auth_method": "--auth-method",
    "subject_type": "--subject-type",
    "backchannel_logout_uri": "--backchannel-logout-uri",
    "client_uri": "--client-uri",
    "policy_uri": "--policy-uri",
    "jwks": "--jwks-file",
    "resource_server_for": "--resource-server-for",
    "id_token_alg": "--id-token-alg",
    "resolve_purpose": "--resolve-purpose",
}


@main.group()
def clients() -> None:
    """OAuth / OpenID Connect clients."""


@clients.command("create")
@click.option("--name", required=True)
@click.option("--client-id", default=None, help="Default: a random id.")
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
)
@click.option("--scope", default=None, help="Space-separated scopes the client may request.")
@click.option(
    "--auth-method",
    default="client_secret_basic",
    show_default=True,
    type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]),
)
@click.option("--first-party", is_flag=True, help="Skip the consent screen (our own channels).")
@click.option("--subject-type", default="public", type=click.Choice(["public", "pairwise"]))
@click.option("--backchannel-logout-uri", default=None)
@click.option("--client-uri", default=None, help="The channel's home page (sign-in links back).")
@click.option("--policy-uri", default=None, help="Its privacy policy (linked on consent).")
@click.option(
    "--jwks-file", type=click.File("r"), default=None, help="Public keys (private_key_jwt)."
)
@click.option("--resource", "resources", multiple=True, help="RFC 8707 resource it may request.")
@click.option(
    "--resource-server-for",
    "resource_server_for",
    multiple=True,
    help="An audience this client serves: it may introspect tokens issued for it.",
)
@click.option(
    "--resolve-purpose",
    default=None,
    help="With identity:resolve: the purpose it resolves anonymous ids for.",
)
@click.option("--id-token-alg", default="RS256", type=click.Choice(["RS256", "ES256"]))
def clients_create(jwks_file: Any, **options: Any) -> None:
    """Register a client; prints JSON with client_id (and client_secret, shown once)."""
    from identity.errors import Conflict
    from identity.oidc.registration import InvalidRegistration

    runtime = _runtime()
    jwks = json.load(jwks_file) if jwks_file is not None else None
    fields = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
    fields["grant_types"] = fields["grant_types"] or ["authorization_code", "refresh_token"]
    try:
        created = runtime.clients.create(jwks=jwks, **fields)
    except InvalidRegistration as exc:
        raise click.ClickException(
            "refused:\n  "
            + "\n  ".join(f"{FLAGS.get(p.field, p.field)}: {p.message}" for p in exc.problems)
        ) from exc
    except Conflict as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        runtime.close()
    client = created.client
    output = {
        "client_id": client.client_id,
        "name": client.name,
        "auth_method": client.auth_method,
        "grant_types": list(client.grant_types),
        "scope": client.scope,
        "redirect_uris": list(client.redirect_uris),
        "subject_type": client.subject_type,
        "first_party": client.first_party,
    }
    if created.client_secret:
        output["client_secret"] = created.client_secret
    click.echo(json.dumps(output, indent=2))


@main.group()
def keys() -> None:
    """Signing keys: for tokens (/jwks) and for consent receipts (/receipts/jwks)."""


@keys.command("rotate")
@click.option("--alg", default="RS256", show_default=True, type=click.Choice(["RS256", "ES256"]))
@click.option(
    "--for",
    "purpose",
    default="tokens",
    show_default=True,
    type=click.Choice(["tokens", "receipts"]),
    help="Token keys, or consent-receipt keys (these stay published forever).",
)
@click.option(
    "--activate-after",
    default=None,
    help="Seconds (or ISO 8601) before the new key signs; default IDENTITY_KEY_ACTIVATION_DELAY.",
)
def keys_rotate(alg: str, purpose: str, activate_after: str | None) -> None:
    """Publish a new signing key now; it starts signing after the activation delay."""
    from pydantic import TypeAdapter

    from identity.settings import Duration

    delay = TypeAdapter(Duration).validate_python(activate_after) if activate_after else None
    runtime = _runtime()
    store = runtime.receipt_keys if purpose == "receipts" else runtime.keys
    try:
        row = store.rotate(alg, delay=delay)
    finally:
        runtime.close()
    click.echo(
        json.dumps(
            {
                "kid": row.kid,
                "alg": row.alg,
                "for": row.purpose,
                "activates_at": row.activates_at.isoformat(),
            }
        )
    )


@keys.command("list")
def keys_list() -> None:
    """Every key with what it is for, its activation time, and whether it signs and is
    published."""

    runtime = _runtime()
    try:
        listing = [*runtime.keys.describe(), *runtime.receipt_keys.describe()]
        click.echo(json.dumps(listing, indent=2))
    finally:
        runtime.close()


@main.group()
def outbox() -> None:
    """Durable delivery of back-channel logouts and webhooks."""


@outbox.command("deliver")
def outbox_deliver() -> None:
    """Deliver every message that is due now (the server also does this in the background)."""

    runtime = _runtime()
    try:
        attempts = runtime.outbox.deliver_due()
    finally:
        runtime.close()
    for a in attempts:
        click.echo(f"{a.kind} #{a.message_id} to {a.owner}: {'delivered' if a.ok else a.error}")
    click.echo(
        f"{sum(a.ok for a in attempts)} delivered, {sum(not a.ok for a in attempts)} to retry"
    )


@main.group()
def anonymous() -> None:
    """Channels' first-party anonymous ids."""


@anonymous.command("expire")
def anonymous_expire() -> None:
    """Unlink anonymous ids past their lifetime and drop their consent state (the records stay
    as proof). Run it daily, e.g. from cron; ids past their lifetime are refused meanwhile."""
    from identity.db import utcnow

    runtime = _runtime()
    try:
        expired = runtime.linking.expire(utcnow())
    finally:
        runtime.close()
    click.echo(f"{expired} anonymous ids expired")


@main.group()
def policies() -> None:
    """Consent purposes (the files in policies/)."""


@policies.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def policies_check(directory: Path | None) -> None:
    """Validate every purpose file without starting the server (exit 1 naming the problem)."""
    from identity.consent.policy import PolicyError, load_catalog
    from identity.resources import resource_dir

    try:
        catalog = load_catalog(directory or _settings().policies_dir or resource_dir("policies"))
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    for purpose in catalog:
        click.echo(
            f"{purpose.id} {purpose.version} ({purpose.legal_basis.value}, {purpose.category})"
        )
    click.echo(f"{len(catalog)} purposes valid")


main.add_command(audit)
main.add_command(upstream)
users.add_command(officers.users_grant_role)
users.add_command(officers.users_revoke_role)
users.add_command(officers.users_remove_second_factor)
main.add_command(dsr)
main.add_command(consent)
main.add_command(lifecycle.housekeeping)
users.add_command(lifecycle.users_list)
users.add_command(lifecycle.users_disable)
users.add_command(lifecycle.users_enable)
clients.add_command(lifecycle.clients_list)
clients.add_command(lifecycle.clients_disable)
clients.add_command(lifecycle.clients_enable)
clients.add_command(lifecycle.clients_delete)
clients.add_command(lifecycle.clients_reset_secret)
clients.add_command(lifecycle.clients_revoke_secret)
keys.add_command(lifecycle.keys_retire)
