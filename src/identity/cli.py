"""The ``identity`` command: serve, migrate, seed, manage users, verify the audit log."""

from __future__ import annotations

import json
import logging
import os
import sys

import click
from pydantic import ValidationError

from identity.settings import Settings, describe_errors


def _settings() -> Settings:
    try:
        return Settings.load()
    except ValidationError as exc:
        raise click.ClickException(describe_errors(exc)) from exc


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

    settings = _settings()  # validate (and create the dev secret) before any worker starts
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
def demo_seed() -> None:
    """Create the demo accounts (idempotent)."""
    from identity.demo import seed
    from identity.runtime import Runtime

    runtime = Runtime.build(_settings())
    try:
        for line in seed(runtime):
            click.echo(line)
    finally:
        runtime.close()


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
    from identity.runtime import Runtime

    password = sys.stdin.readline().rstrip("\r\n")
    runtime = Runtime.build(_settings())
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


@main.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Walk the hash chain; exit 1 naming the first bad entry."""
    from identity import audit as audit_log
    from identity.db import Database

    database = Database(_settings().database_url)
    try:
        with database.read() as session:
            result = audit_log.verify(session)
    finally:
        database.dispose()
    if result.problem is not None:
        click.echo(f"audit log BROKEN at entry #{result.problem.seq}: {result.problem.message}")
        click.echo(f"({result.checked} entries verified before it)")
        sys.exit(1)
    click.echo(f"audit log intact: {result.checked} entries, head #{result.head_seq}")
