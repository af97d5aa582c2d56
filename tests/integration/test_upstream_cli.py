"""``identity upstream add/list/remove``: the providers file from the command line."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select

from identity.audit.models import AuditEntryRow
from identity.runtime import Runtime
from identity.settings import Settings
from tests.support.cli import Ran


def test_an_operator_adds_lists_and_removes_a_provider(
    identity: Callable[..., Ran], settings: Settings, runtime: Runtime
) -> None:
    added = identity(
        "upstream", "add", "google", "--issuer", "https://accounts.google.com",
        "--client-id", "cid", "--name", "Google", "--no-check", "--operator", "ops",
        input="the-secret\n",
    )  # fmt: skip
    assert added.code == 0, added.out + added.err
    shown = json.loads(added.out.splitlines()[-1])
    assert shown["redirect_uri"] == f"{settings.issuer}/login/upstream/google/callback"
    path = settings.var_dir / "upstream.json"
    assert json.loads(path.read_text())["providers"]["google"]["client_secret"] == "the-secret"
    assert path.stat().st_mode & 0o077 == 0
    listed = identity("upstream", "list")
    assert [line["key"] for line in listed.lines()] == ["google"]
    assert "the-secret" not in listed.out
    assert identity("upstream", "remove", "google", "--operator", "ops").code == 0
    assert identity("upstream", "list").out == ""
    with runtime.db.read() as session:
        rows = session.execute(
            select(AuditEntryRow.action, AuditEntryRow.actor, AuditEntryRow.details)
            .where(AuditEntryRow.action.like("upstream.%"))
            .order_by(AuditEntryRow.id)
        ).all()
    assert [(a, actor) for a, actor, _ in rows] == [
        ("upstream.provider_added", "operator:ops"),
        ("upstream.provider_removed", "operator:ops"),
    ]


def test_removing_an_unknown_provider_fails(identity: Callable[..., Ran]) -> None:
    assert identity("upstream", "remove", "nope").code != 0
