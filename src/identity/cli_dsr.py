"""``identity dsr``: data subject requests at the command line (an officer's, audited as
``operator:<--operator>``): an export, an erasure, the due run, the queue."""

from __future__ import annotations

import json
from typing import Any

import click

from identity.cli_support import operator, operator_option
from identity.cli_support import runtime as _runtime

SUBJECT_HELP = "The customer: their account id or their email address."


_actor = operator  # the option's value, checked, as the audit actor


def _view(view: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in view.__dict__.items()}


@click.group()
def dsr() -> None:
    """Data subject requests: access exports (GDPR Art. 15/20) and erasure (Art. 17)."""


@dsr.command("export")
@click.option("--subject", required=True, help=SUBJECT_HELP)
@operator_option
def dsr_export(subject: str, operator: str) -> None:
    """Print everything held about the customer, as JSON (the export is audited)."""
    from identity.errors import NotFound

    actor = _actor(operator)
    runtime = _runtime()
    try:
        runtime.receipt_keys.ensure()  # receipts are signed even where no server has run
        document = runtime.dsr.export(subject, actor=actor)
    except NotFound as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        runtime.close()
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


def erase_subject(subject: str, reason: str, *, now: bool, operator_name: str) -> None:
    """Erase (or schedule the erasure of) one customer as the operator; prints the request."""
    from identity.errors import InvalidInput, NotFound

    actor = _actor(operator_name)
    runtime = _runtime()
    try:
        view = runtime.dsr.erase(subject, actor=actor, reason=reason, immediately=now)
        if now:
            runtime.outbox.deliver_due()  # logouts and subject.erased, now rather than later
    except (NotFound, InvalidInput) as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        runtime.close()
    click.echo(json.dumps(_view(view), indent=2))


@dsr.command("erase")
@click.option("--subject", required=True, help=SUBJECT_HELP)
@click.option("--reason", required=True, help="Why (kept and audited: no personal details).")
@click.option("--now", is_flag=True, help="Erase at once instead of after the grace period.")
@operator_option
def dsr_erase(subject: str, reason: str, now: bool, operator: str) -> None:
    """Erase a customer's account: at once with --now, else after IDENTITY_ERASURE_GRACE."""
    erase_subject(subject, reason, now=now, operator_name=operator)


@dsr.command("run")
def dsr_run() -> None:
    """Execute every erasure whose grace period has passed (each server process also does
    this every IDENTITY_DSR_RUN_INTERVAL; run it from cron where no server runs)."""
    runtime = _runtime()
    try:
        done = runtime.dsr.run_due()
        if done:
            runtime.outbox.deliver_due()
    finally:
        runtime.close()
    for view in done:
        click.echo(f"erased {view.subject} (request {view.id})")
    click.echo(f"{len(done)} erasures executed")


@dsr.command("queue")
@click.option("--status", type=click.Choice(["pending", "cancelled", "done"]), default=None)
def dsr_queue(status: str | None) -> None:
    """Requests with their deadlines, pending first, oldest deadline first (JSON)."""
    runtime = _runtime()
    try:
        views = runtime.dsr.queue(status=status)
    finally:
        runtime.close()
    click.echo(json.dumps([_view(v) for v in views], indent=2))
