"""``identity audit``: status, checkpoints, verification (of the database, against a kept
checkpoint, or of an export file offline), streamed exports and the retention purge."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from identity.cli_support import operator_option
from identity.cli_support import runtime as _runtime


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("status")
def audit_status() -> None:
    """Size, entries waiting for the sequencer, sequencing lag, the latest checkpoint."""
    runtime = _runtime()
    try:
        status = runtime.audit_log.status()
    finally:
        runtime.close()
    click.echo(json.dumps(status.__dict__, indent=2))


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Place every waiting entry and sign a checkpoint now; print it."""
    runtime = _runtime()
    try:
        runtime.audit_keys.ensure()
        runtime.sequencer.drain()
        checkpoint = runtime.audit_log.latest_checkpoint()
    finally:
        runtime.close()
    click.echo(checkpoint.note if checkpoint else "", nl=False)


@audit.command("key")
def audit_key() -> None:
    """The log's verifier keys (C2SP vkey), the one signing now first."""
    runtime = _runtime()
    try:
        runtime.audit_keys.ensure()
        click.echo("\n".join(runtime.audit_keys.vkeys()))
    finally:
        runtime.close()


def _verifiers(key: str) -> list[Any]:
    from identity.audit.notes import parse_vkey

    text = Path(key).read_text() if Path(key).is_file() else key
    return [parse_vkey(line.strip()) for line in text.splitlines() if line.strip()]


def _report(result: Any) -> None:
    if result.problem is not None:
        click.echo(f"audit log BROKEN at #{result.problem.index}: {result.problem.message}")
        click.echo(
            f"({result.entries} entries and {result.checkpoints} checkpoints sound before it)"
        )
        sys.exit(1)
    click.echo(f"audit log intact: {result.entries} entries, {result.checkpoints} checkpoints")


@audit.command("verify")
@click.option(
    "--trusted",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint note kept from earlier: the log must still extend it.",
)
@click.option(
    "--file",
    "export",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify an export offline instead of the database (needs --key).",
)
@click.option("--key", default=None, help="The log's verifier key (vkey) or a file of them.")
@click.option("--origin", default=None, help="The log's name; default: from the key.")
def audit_verify(
    trusted: Path | None, export: Path | None, key: str | None, origin: str | None
) -> None:
    """Check every entry, stored hash and checkpoint; exit 1 naming the first problem."""
    if export is not None:
        from identity.audit.offline import verify_file

        if key is None:
            raise click.ClickException("--file needs --key (the log's published verifier key)")
        verifiers = _verifiers(key)
        _report(verify_file(export, verifiers, origin or verifiers[0].name))
        return
    _verify_database(trusted)


def _verify_database(trusted_file: Path | None) -> None:
    from identity.audit.notes import NoteError, open_checkpoint
    from identity.audit.verify import verify_database

    runtime = _runtime()
    try:
        runtime.audit_keys.ensure()
        keys, origin = runtime.audit_keys, runtime.audit_keys.origin
        trusted = None
        if trusted_file is not None:
            try:
                trusted = open_checkpoint(trusted_file.read_text(), keys.verifiers(), origin=origin)
            except NoteError as exc:
                raise click.ClickException(
                    f"the trusted checkpoint does not verify: {exc}"
                ) from exc
        with runtime.db.read() as session:
            result = verify_database(session, keys.verifiers(), origin, trusted)
    finally:
        runtime.close()
    _report(result)


@audit.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be purged.")
@operator_option
def audit_purge(dry_run: bool, operator: str) -> None:
    """Clear the contents of entries past their family's retention (IDENTITY_AUDIT_RETENTION).

    Their place, time, action and leaf hash stay: checkpoints, proofs and verification hold.
    The purge is itself an entry of the log (audit.purged), naming the operator."""
    from identity.cli_support import operator as operator_actor

    actor = operator_actor(operator)
    runtime = _runtime()
    try:
        report = runtime.audit_purge.run(actor=actor, dry_run=dry_run)
        if report.ranges and not dry_run:
            runtime.audit_keys.ensure()
            runtime.sequencer.drain()  # the purge's own entry takes its place now
    finally:
        runtime.close()
    click.echo(json.dumps(report.summary(), indent=2))


@audit.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("--since", type=click.DateTime(), default=None, help="From this time (UTC).")
@click.option("--until", type=click.DateTime(), default=None, help="Before this time (UTC).")
@click.option("--subject", default=None, help="e.g. user:<id>")
@click.option("--action", default=None, help="An action or a family (consent, login.failed).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
def audit_export(
    fmt: str,
    since: datetime | None,
    until: datetime | None,
    subject: str | None,
    action: str | None,
    output: Path | None,
) -> None:
    """Stream entries, ending with a fresh checkpoint (and proofs, when filtered)."""
    from datetime import UTC

    from identity.audit.export import Filter, lines

    where = Filter(
        since=since.replace(tzinfo=UTC) if since else None,
        until=until.replace(tzinfo=UTC) if until else None,
        subject=subject,
        action=action,
    )
    runtime = _runtime()
    try:
        runtime.audit_keys.ensure()
        runtime.sequencer.drain()
        checkpoint = runtime.audit_log.latest_checkpoint()
        with output.open("w", encoding="utf-8", newline="") if output else sys.stdout as out:
            for line in lines(runtime.db, checkpoint, where, fmt):
                out.write(line)
    finally:
        runtime.close()
