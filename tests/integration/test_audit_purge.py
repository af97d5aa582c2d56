"""The retention purge: past its family's retention an entry's contents leave the database,
while the tree, its stored hashes, the checkpoints and every proof stay valid; verification in
the database and offline accepts purged entries by their leaf hash, and still catches a
tampered leaf hash, or contents cleared outside a recorded purge."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from identity import audit
from identity.audit.export import Filter, lines
from identity.audit.merkle import check_record, check_tree, leaf_hash, stored_hash_index
from identity.audit.models import AuditEntryRow, AuditHashRow
from identity.audit.notes import Checkpoint, parse_vkey
from identity.audit.offline import read_records, verify_file
from identity.audit.refs import Actor, Subject
from identity.audit.rules import PurgedEntry
from identity.audit.verify import verify_database
from identity.runtime import Runtime

ANA = Subject.user("00000000-0000-4000-8000-0000000000aa")
ANAS_ADDRESS = "keyed-hash-of-anas-address"  # what must leave the database with the purge
OFFICER = Actor.operator("privacy-officer")
EVERYTHING = Filter()
THIRTEEN_MONTHS = timedelta(days=395)  # the default for sign-in and session events


def write(runtime: Any, action: str, n: int) -> None:
    for i in range(n):
        with runtime.db.transaction() as session:
            details = {"ip": ANAS_ADDRESS, "i": i}
            audit.record(session, action, actor=Actor.user(ANA.id), subject=ANA, details=details)


@dataclass
class AgedLog:
    runtime: Any
    kept: Checkpoint  # a checkpoint an auditor kept before the purge
    old: list[int]  # indexes of the old sign-in and session entries (past retention)
    young: list[int]  # indexes of the sign-in failures written 200 days later (inside it)
    consent: list[int]  # indexes of the consent records (kept forever)


def rows(runtime: Any) -> dict[int, Any]:
    with runtime.db.read() as session:
        found = session.execute(select(AuditEntryRow).order_by(AuditEntryRow.leaf_index))
        return {row.leaf_index: row for row in found.scalars()}


def indexes(runtime: Any, *actions: str) -> list[int]:
    return sorted(i for i, row in rows(runtime).items() if row.action in actions)


@pytest.fixture
def aged(runtime: Any, clock: Any) -> AgedLog:
    """Sign-ins, session ends and consent records of 400 days ago, and sign-in failures of
    200 days ago, all placed and checkpointed; the clock now."""
    runtime.audit_keys.ensure()
    write(runtime, "login.succeeded", 6)
    write(runtime, "consent.recorded", 4)
    write(runtime, "session.ended", 2)
    runtime.sequencer.drain()
    kept = Checkpoint.parse(runtime.audit_log.latest_checkpoint().note.split("\n\n")[0] + "\n")
    clock.tick(timedelta(days=200))
    write(runtime, "login.failed", 3)
    runtime.sequencer.drain()
    clock.tick(timedelta(days=200))
    return AgedLog(
        runtime,
        kept,
        old=indexes(runtime, "login.succeeded", "session.ended"),
        young=indexes(runtime, "login.failed"),
        consent=indexes(runtime, "consent.recorded"),
    )


def verify(runtime: Any, trusted: Checkpoint | None = None) -> Any:
    keys = runtime.audit_keys
    with runtime.db.read() as session:
        return verify_database(session, keys.verifiers(), keys.origin, trusted)


def purge(runtime: Any, dry_run: bool = False) -> dict[str, Any]:
    report = runtime.audit_purge.run(actor=OFFICER, dry_run=dry_run)
    runtime.sequencer.drain()
    return report.summary()


def test_a_purge_clears_the_contents_of_entries_past_retention_and_only_those(aged):
    before = rows(aged.runtime)
    summary = purge(aged.runtime)
    after = rows(aged.runtime)
    assert summary["entries"] == len(aged.old) == 8
    spans = {k: (v["count"], v["first"], v["last"]) for k, v in summary["families"].items()}
    logins = indexes(aged.runtime, "login.succeeded")
    sessions = indexes(aged.runtime, "session.ended")
    assert spans == {"login": (6, logins[0], logins[-1]), "session": (2, sessions[0], sessions[-1])}
    for index in aged.old:
        row = after[index]
        assert (row.actor, row.subject, row.details) == ("", None, {})
        assert row.purged_at is not None
        assert (row.action, row.at) == (before[index].action, before[index].at)
    for index in aged.young + aged.consent:  # inside retention, or kept forever
        assert (after[index].actor, after[index].subject, after[index].details) == (
            before[index].actor,
            before[index].subject,
            before[index].details,
        )
        assert after[index].purged_at is None
    with aged.runtime.db.read() as session:
        contents = session.execute(text("SELECT actor, subject, details FROM audit_entry"))
        left = [json.dumps(list(row)) for row in contents]
    assert sum(ANAS_ADDRESS in row for row in left) == len(aged.young + aged.consent)


def test_the_purge_is_itself_an_entry_of_the_log_naming_who_purged_what(aged):
    summary = purge(aged.runtime)
    recorded = [row for row in rows(aged.runtime).values() if row.action == "audit.purged"]
    assert [(r.actor, r.details) for r in recorded] == [
        (str(OFFICER), {k: v for k, v in summary.items() if k != "dry_run"})
    ]
    assert summary["families"]["login"]["before"].endswith("Z")
    assert purge(aged.runtime)["entries"] == 0  # nothing left to purge: no second record
    assert len([r for r in rows(aged.runtime).values() if r.action == "audit.purged"]) == 1


def test_a_dry_run_counts_what_a_purge_would_clear_and_changes_nothing(aged):
    before = {i: (r.actor, r.details, r.purged_at) for i, r in rows(aged.runtime).items()}
    summary = purge(aged.runtime, dry_run=True)
    assert (summary["dry_run"], summary["entries"]) == (True, 8)
    after = {i: (r.actor, r.details, r.purged_at) for i, r in rows(aged.runtime).items()}
    assert after == before


def test_entries_inside_their_retention_are_not_purged(runtime, clock):
    runtime.audit_keys.ensure()
    write(runtime, "login.succeeded", 3)
    runtime.sequencer.drain()
    clock.tick(THIRTEEN_MONTHS - timedelta(minutes=1))
    assert purge(runtime)["entries"] == 0
    assert all(row.purged_at is None for row in rows(runtime).values())


def test_after_a_purge_the_log_verifies_and_its_proofs_still_hold(aged):
    purge(aged.runtime)
    log = aged.runtime.audit_log
    result = verify(aged.runtime, trusted=aged.kept)  # and still extends the kept checkpoint
    assert result.ok, result.problem
    assert result.entries == log.latest_checkpoint().size
    size = log.latest_checkpoint().size
    root = log.root(size)
    for index in aged.old:
        purged = log.entry(index)
        assert isinstance(purged, PurgedEntry)
        check_record(log.inclusion(index, size), size, root, index, purged.leaf)
    check_tree(
        log.consistency(aged.kept.size, size), size, root, aged.kept.size, aged.kept.root_hash
    )


def export(runtime: Any, path: Path, fmt: str, where: Filter = EVERYTHING) -> Path:
    runtime.sequencer.drain()
    checkpoint = runtime.audit_log.latest_checkpoint()
    with path.open("w", encoding="utf-8", newline="") as out:
        out.writelines(lines(runtime.db, checkpoint, where, fmt))
    return path


def check(runtime: Any, path: Path) -> Any:
    verifiers = [parse_vkey(k) for k in runtime.audit_keys.vkeys()]
    return verify_file(path, verifiers, runtime.audit_keys.origin)


@pytest.mark.parametrize("where", [Filter(), Filter(action="login")], ids=["full", "filtered"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_carries_purged_entries_by_their_leaf_hash_and_verifies_offline(
    aged, tmp_path, fmt, where
):
    purge(aged.runtime)
    path = export(aged.runtime, tmp_path / f"audit.{fmt}", fmt, where)
    result = check(aged.runtime, path)
    assert result.ok, result.problem
    purged = [r["index"] for r in read_records(path) if r["type"] == "purged"]
    logins = [i for i in aged.old if rows(aged.runtime)[i].action.startswith("login.")]
    assert purged == (aged.old if where.empty else logins)
    kept = len(aged.young) + (0 if where.action else len(aged.consent))
    assert path.read_text().count(ANAS_ADDRESS) == kept  # none of a purged entry's contents


def test_tampering_with_a_purged_entrys_stored_leaf_hash_is_still_detected(aged, tmp_path):
    purge(aged.runtime)
    victim = aged.old[2]
    with aged.runtime.db.engine.begin() as connection:
        connection.execute(
            update(AuditHashRow)
            .where(AuditHashRow.index == stored_hash_index(0, victim))
            .values(hash=leaf_hash(b"another entry"))
        )
    found = verify(aged.runtime).problem
    assert found is not None
    assert found.kind in ("hashes", "checkpoint")
    assert victim <= found.index <= victim + 1  # at it, or where its parent hash is stored
    path = export(aged.runtime, tmp_path / "audit.jsonl", "jsonl")  # the forged hash exported
    assert check(aged.runtime, path).problem.kind == "checkpoint"  # the signed root disagrees


def test_contents_cleared_by_hand_outside_a_recorded_purge_are_detected(aged, tmp_path):
    purge(aged.runtime)
    hidden = aged.consent[1]  # consent is kept forever: no purge ever covers it
    with aged.runtime.db.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE audit_entry SET actor = '', subject = NULL, details = '{}',"
                " purged_at = at WHERE leaf_index = :i"
            ),
            {"i": hidden},
        )
    assert (verify(aged.runtime).problem.kind, verify(aged.runtime).problem.index) == (
        "purged",
        hidden,
    )
    path = export(aged.runtime, tmp_path / "audit.jsonl", "jsonl")
    assert (check(aged.runtime, path).problem.kind, check(aged.runtime, path).problem.index) == (
        "purged",
        hidden,
    )


def test_an_entry_made_purged_in_a_full_export_is_caught_offline(aged, tmp_path):
    """Replacing an entry by its leaf hash keeps the tree's root; only the purge records
    show that the log never purged it."""
    path = export(aged.runtime, tmp_path / "audit.jsonl", "jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    hidden = aged.consent[0]
    entry = next(r for r in records if r.get("index") == hidden)
    leaf = base64.b64encode(leaf_hash(base64.b64decode(entry["leaf"]))).decode()
    records[records.index(entry)] = {
        "type": "purged",
        "index": hidden,
        "at": entry["at"],
        "action": entry["action"],
        "leaf_hash": leaf,
    }
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = check(aged.runtime, path)
    assert (result.problem.kind, result.problem.index) == ("purged", hidden)


def test_a_narrower_family_keeps_its_own_retention(make_settings, clock):
    settings = make_settings(audit_retention={"login": "P30D", "login.failed": "forever"})
    runtime = Runtime.build(settings)
    try:
        runtime.audit_keys.ensure()
        write(runtime, "login.succeeded", 2)
        write(runtime, "login.failed", 2)
        write(runtime, "login.succeeded", 1)
        runtime.sequencer.drain()
        clock.tick(timedelta(days=31))
        summary = purge(runtime)
        assert summary["families"]["login"]["count"] == 3
        assert summary["families"]["login"]["kept"] == ["login.failed"]
        failed = indexes(runtime, "login.failed")
        assert all(rows(runtime)[i].purged_at is None for i in failed)
        assert verify(runtime).ok
        with runtime.db.engine.begin() as connection:  # inside the purge's span, not its family
            connection.execute(
                text("UPDATE audit_entry SET purged_at = at WHERE leaf_index = :i"),
                {"i": failed[0]},
            )
        assert (verify(runtime).problem.kind, verify(runtime).problem.index) == (
            "purged",
            failed[0],
        )
    finally:
        runtime.close()


def test_identity_audit_purge_clears_what_is_due_and_the_log_still_verifies(
    runtime, database_url, tmp_path
):
    from datetime import UTC, datetime

    from freezegun import freeze_time

    from tests.conftest import TEST_SECRET

    runtime.audit_keys.ensure()
    with freeze_time(datetime.now(UTC) - timedelta(days=40)):
        write(runtime, "login.succeeded", 3)
        write(runtime, "consent.recorded", 2)
    runtime.sequencer.drain()
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": database_url,
        "IDENTITY_SECRET_KEY": TEST_SECRET,
        "IDENTITY_ISSUER": runtime.settings.issuer,  # the log's name
        "IDENTITY_AUDIT_RETENTION": '{"login": "P30D"}',
    }

    def cli(*args: str) -> str:
        command = [sys.executable, "-m", "identity", "audit", *args]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    dry = json.loads(cli("purge", "--dry-run", "--operator", "privacy-officer"))
    assert (dry["dry_run"], dry["entries"], list(dry["families"])) == (True, 3, ["login"])
    assert all(row.purged_at is None for row in rows(runtime).values())
    done = json.loads(cli("purge", "--operator", "privacy-officer"))
    assert (done["dry_run"], done["entries"]) == (False, 3)
    purged = [row for row in rows(runtime).values() if row.purged_at is not None]
    assert [row.action for row in purged] == ["login.succeeded"] * 3
    recorded = [row for row in rows(runtime).values() if row.action == "audit.purged"]
    assert [row.actor for row in recorded] == ["operator:privacy-officer"]
    assert "intact" in cli("verify")
