"""Exports of the audit log verify offline, with nothing but the published verifier key: a
full export by its root, a filtered one by its inclusion proofs; an edited file is caught."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from identity import audit
from identity.audit.export import Filter, lines
from identity.audit.notes import parse_vkey
from identity.audit.offline import verify_file
from identity.audit.refs import Actor, Subject
from identity.db import utcnow

ANA = Subject.user("00000000-0000-4000-8000-000000000001")
BEN = Subject.user("00000000-0000-4000-8000-000000000002")


@pytest.fixture
def logged(runtime: Any) -> Any:
    runtime.audit_keys.ensure()
    for i in range(12):
        with runtime.db.transaction() as session:
            audit.record(
                session,
                "consent.recorded" if i % 3 == 0 else "login.succeeded",
                actor=Actor.user(str(ANA.id if i % 2 else BEN.id)),
                subject=ANA if i % 2 else BEN,
                details={"i": i},
            )
    runtime.sequencer.drain()
    return runtime


EVERYTHING = Filter()


def export(runtime: Any, path: Path, fmt: str, where: Filter = EVERYTHING) -> Path:
    checkpoint = runtime.audit_log.latest_checkpoint()
    with path.open("w", encoding="utf-8", newline="") as out:
        out.writelines(lines(runtime.db, checkpoint, where, fmt))
    return path


def check(runtime: Any, path: Path) -> Any:
    keys = runtime.audit_keys
    verifiers = [parse_vkey(k) for k in keys.vkeys()]  # only what is published
    return verify_file(path, verifiers, keys.origin)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_full_export_verifies_offline_by_recomputing_the_root(logged, tmp_path, fmt):
    path = export(logged, tmp_path / f"audit.{fmt}", fmt)
    result = check(logged, path)
    assert result.ok, result.problem
    assert result.entries == logged.audit_log.latest_checkpoint().size


@pytest.mark.parametrize(
    "where",
    [
        Filter(subject=str(ANA)),
        Filter(action="consent"),
        Filter(action="login.succeeded", subject=str(BEN)),
        Filter(since=utcnow() - timedelta(hours=1), until=utcnow() + timedelta(hours=1)),
    ],
    ids=["subject", "family", "action-and-subject", "time"],
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_filtered_export_verifies_offline_by_its_inclusion_proofs(logged, tmp_path, where, fmt):
    path = export(logged, tmp_path / f"audit.{fmt}", fmt, where)
    result = check(logged, path)
    assert result.ok, result.problem
    assert result.entries > 0


def test_an_edited_export_is_caught_and_the_entry_named(logged, tmp_path):
    path = export(logged, tmp_path / "audit.jsonl", "jsonl", Filter(subject=str(ANA)))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    victim = next(r for r in rows if r["type"] == "entry")
    victim["details"] = {"i": 999}
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    result = check(logged, path)
    assert (result.problem.kind, result.problem.index) == ("edited", victim["index"])


def test_a_full_export_missing_an_entry_is_caught(logged, tmp_path):
    path = export(logged, tmp_path / "audit.jsonl", "jsonl")
    kept = [line for line in path.read_text().splitlines() if '"index":4,' not in line]
    path.write_text("\n".join(kept) + "\n")
    assert check(logged, path).problem.kind == "deleted"


def test_an_export_verifies_only_against_the_logs_own_key(logged, tmp_path):
    from identity.audit.notes import NoteSigner

    path = export(logged, tmp_path / "audit.jsonl", "jsonl")
    stranger = NoteSigner.generate(logged.audit_keys.origin).verifier()
    result = verify_file(path, [stranger], logged.audit_keys.origin)
    assert result.problem.kind == "checkpoint"


def test_the_cli_exports_and_verifies_a_file_with_the_published_key(logged, database_url, tmp_path):
    from tests.conftest import TEST_SECRET

    env = {**os.environ, "IDENTITY_DATABASE_URL": database_url, "IDENTITY_SECRET_KEY": TEST_SECRET}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "identity", "audit", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    key = tmp_path / "audit.vkey"
    key.write_text(cli("key").stdout)
    out = tmp_path / "consent.csv"
    exported = cli("export", "--format", "csv", "--action", "consent", "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    verified = cli("verify", "--file", str(out), "--key", str(key))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout
    out.write_text(out.read_text().replace("consent.recorded", "consent.forged", 1))
    broken = cli("verify", "--file", str(out), "--key", str(key))
    assert broken.returncode == 1
