"""``identity consent export``: every matching consent record with its signed receipt,
streamed and resumable (the service is :mod:`identity.consent.export`)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import click

from identity.cli_support import operator as operator_actor
from identity.cli_support import operator_option
from identity.cli_support import runtime as _runtime


@click.group()
def consent() -> None:
    """Consent records."""


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@consent.command("export")
@click.option("--subject", default=None, help="An account id (sub), or an anonymous id's key.")
@click.option("--purpose", default=None)
@click.option("--since", type=click.DateTime(), default=None, help="Recorded from (UTC).")
@click.option("--until", type=click.DateTime(), default=None, help="Recorded before (UTC).")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    help="A cursor from an earlier export: continue after it.",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@operator_option
def consent_export(
    subject: str | None,
    purpose: str | None,
    since: datetime | None,
    until: datetime | None,
    fmt: str,
    after: int,
    output: Path | None,
    operator: str,
) -> None:
    """Stream every matching record (no limit) with its receipt, each line with its cursor;
    the last line gives the count and the cursor to continue from with --after."""
    from identity.consent.export import ExportFilter, formatted

    actor = operator_actor(operator)
    where = ExportFilter(
        subject=subject, purpose=purpose, since=_utc(since), until=_utc(until), after=after
    )
    runtime = _runtime()
    try:
        runtime.receipt_keys.ensure()
        runtime.audit_keys.ensure()
        runtime.sequencer.drain()  # place every committed record in the feed first
        lines = runtime.operations.consent_export.run(where, actor=actor)
        target = (
            output.open("w", encoding="utf-8", newline="") if output else nullcontext(sys.stdout)
        )
        with target as out:
            for line in formatted(lines, fmt):
                out.write(line)
    finally:
        runtime.close()
