"""The audit log on a real database: atomic with its change, appended without a lock, placed
in a Merkle tree by the sequencer with nothing skipped or repeated, and every kind of
tampering found and named."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from sqlalchemy import select, text

from identity import audit
from identity.audit.merkle import leaf_hash, stored_hashes_for_batch, tree_hash
from identity.audit.models import AuditCheckpointRow, AuditEntryRow, AuditHashRow, AuditTreeRow
from identity.audit.notes import Checkpoint, NoteSigner, sign_note
from identity.audit.refs import SYSTEM, Subject
from identity.audit.store import entry_of
from identity.audit.verify import verify_database
from tests.conftest import TEST_SECRET


@pytest.fixture
def log(runtime: Any) -> Any:
    runtime.audit_keys.ensure()
    return runtime


def append(runtime: Any, n: int, action: str = "test.event") -> None:
    for i in range(n):
        with runtime.db.transaction() as session:
            subject = Subject.user(str(i))
            audit.record(session, action, actor=SYSTEM, subject=subject, details={"i": i})


def verify(runtime: Any, trusted: Checkpoint | None = None) -> Any:
    keys = runtime.audit_keys
    with runtime.db.read() as session:
        return verify_database(session, keys.verifiers(), keys.origin, trusted)


def tamper(runtime: Any, *statements: str) -> None:
    with runtime.db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def indexes(runtime: Any) -> list[int | None]:
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditEntryRow.leaf_index).order_by(AuditEntryRow.id)))


def test_an_entry_exists_if_and_only_if_its_transaction_committed(log):
    class Boom(Exception):
        pass

    def change_then_fail() -> None:
        with log.db.transaction() as session:
            audit.record(session, "test.rolled_back", actor=SYSTEM)
            raise Boom

    with pytest.raises(Boom):
        change_then_fail()
    with log.db.transaction() as session:
        audit.record(session, "test.committed", actor=SYSTEM)
    log.sequencer.drain()
    with log.db.read() as session:
        actions = session.scalars(select(AuditEntryRow.action)).all()
    assert "test.rolled_back" not in actions
    assert "test.committed" in actions
    assert verify(log).ok


def test_entries_get_contiguous_places_and_a_signed_checkpoint(log):
    append(log, 5)
    assert None in indexes(log)  # written, not yet placed
    assert log.sequencer.drain() >= 5
    placed = indexes(log)
    assert placed == list(range(len(placed)))
    result = verify(log)
    assert result.ok, result.problem
    assert (result.entries, result.checkpoints) == (len(placed), 1)


def test_a_transaction_committing_late_is_placed_after_later_ones_never_skipped(log, backend):
    """Writers commit out of the order they started; the sequencer takes what has
    committed and the late one when it commits."""
    if backend == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time: none can commit late")
    late = log.db.transaction()
    session = late.__enter__()
    audit.record(session, "test.late", actor=SYSTEM)
    append(log, 3, "test.early")
    log.sequencer.drain()
    late.__exit__(None, None, None)  # commits now
    log.sequencer.drain()
    with log.db.read() as session:
        rows = session.execute(
            select(AuditEntryRow.action, AuditEntryRow.leaf_index).order_by(
                AuditEntryRow.leaf_index
            )
        ).all()
    actions = [a for a, _ in rows if a.startswith("test.")]
    assert actions == ["test.early"] * 3 + ["test.late"]
    assert [i for _, i in rows] == list(range(len(rows)))
    assert verify(log).ok


def _forge_entry_two(runtime: Any) -> list[str]:
    """Give the entries from #2 on the next index and put a forged entry at #2."""
    with runtime.db.read() as session:
        size = session.scalar(select(AuditTreeRow.size))
    moves = [
        f"UPDATE audit_entry SET leaf_index = {i + 1} WHERE leaf_index = {i}"
        for i in range(size - 1, 1, -1)
    ]
    forged = (
        "INSERT INTO audit_entry (at, action, actor, subject, details, leaf_index)"
        " SELECT at, 'forged.event', 'operator:attacker', NULL, '{}', 2 FROM audit_entry"
        " WHERE leaf_index = 1"
    )
    return [*moves, forged]


TAMPERING = {
    "edited": (
        lambda r: ["UPDATE audit_entry SET action = 'quietly.changed' WHERE leaf_index = 2"],
        2,
    ),
    "deleted": (lambda r: ["DELETE FROM audit_entry WHERE leaf_index = 2"], 2),
    "inserted": (_forge_entry_two, 2),
    "reordered": (
        lambda r: [
            "UPDATE audit_entry SET leaf_index = -1 WHERE leaf_index = 2",
            "UPDATE audit_entry SET leaf_index = 2 WHERE leaf_index = 3",
            "UPDATE audit_entry SET leaf_index = 3 WHERE leaf_index = -1",
        ],
        2,
    ),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_detected_and_the_first_bad_entry_named(log, kind):
    append(log, 6)
    log.sequencer.drain()
    statements, named = TAMPERING[kind]
    tamper(log, *statements(log))
    problem = verify(log).problem
    assert problem is not None
    assert (problem.kind, problem.index) == (kind, named), problem.message


def test_a_truncated_log_is_detected_by_its_checkpoint(log):
    append(log, 6)
    log.sequencer.drain()
    size = len(indexes(log))
    tamper(
        log,
        f"DELETE FROM audit_entry WHERE leaf_index >= {size - 2}",
        f"UPDATE audit_tree SET size = {size - 2}",
    )
    problem = verify(log).problem
    assert (problem.kind, problem.index) == ("truncated", size - 2)


def test_a_replaced_checkpoint_is_detected(log):
    append(log, 3)
    log.sequencer.drain()
    with log.db.read() as session:
        row = session.scalars(select(AuditCheckpointRow)).one()
    other = NoteSigner.generate(log.audit_keys.origin)
    forged = sign_note(Checkpoint(log.audit_keys.origin, row.size, b"\x00" * 32).to_text(), other)
    with log.db.transaction() as session:
        stored = session.get(AuditCheckpointRow, row.size)
        stored.note, stored.root_hash = forged, b"\x00" * 32
    problem = verify(log).problem
    assert (problem.kind, problem.index) == ("checkpoint", row.size)


def _rewrite_history(runtime: Any) -> None:
    """An attacker with write access edits entry #1 and rebuilds the whole tree to match,
    deleting every checkpoint (it cannot sign new ones)."""
    with runtime.db.transaction() as session:
        edited = session.scalar(select(AuditEntryRow).where(AuditEntryRow.leaf_index == 1))
        edited.action = "rewritten"
        session.execute(AuditHashRow.__table__.delete())
        session.execute(AuditCheckpointRow.__table__.delete())
        rows = session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.leaf_index)).all()
        hashes: dict[int, bytes] = {}
        leaves = [leaf_hash(entry_of(r).data()) for r in rows]
        for index, value in stored_hashes_for_batch(0, leaves, lambda ix: [hashes[i] for i in ix]):
            hashes[index] = value
            session.add(AuditHashRow(index=index, hash=value))
        session.flush()
        tree = session.get(AuditTreeRow, 1)
        tree.root_hash = tree_hash(len(rows), lambda ix: [hashes[i] for i in ix])


def test_a_kept_checkpoint_catches_a_history_rewritten_without_signatures(log, tmp_path):
    append(log, 5)
    log.sequencer.drain()
    kept = log.audit_log.latest_checkpoint().note
    _rewrite_history(log)
    assert verify(log).ok  # nothing signed is left to contradict it ...
    trusted = Checkpoint.parse(kept.split("\n\n")[0] + "\n")
    problem = verify(log, trusted).problem  # ... but the checkpoint kept outside does
    assert problem.kind == "trusted"


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IDENTITY_DATABASE_URL": database_url, "IDENTITY_SECRET_KEY": "k" * 40}
    return subprocess.run(
        [sys.executable, "-m", "identity", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_identity_audit_verify_exits_1_naming_the_entry(database_url, tmp_path):
    from identity.db import Database

    db = Database(database_url)
    for i in range(4):
        with db.transaction() as session:
            audit.record(session, "test.event", actor=SYSTEM, details={"i": i})
    checkpoint = run_cli(database_url, "audit", "checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stderr
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(checkpoint.stdout)
    ok = run_cli(database_url, "audit", "verify", "--trusted", str(saved))
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entry SET action = 'x' WHERE leaf_index = 2"))
    db.dispose()
    broken = run_cli(database_url, "audit", "verify")
    assert broken.returncode == 1
    assert "#2" in broken.stdout
    assert "edited" in broken.stdout
    status = run_cli(database_url, "audit", "status")
    assert '"unsequenced": 0' in status.stdout


WRITER = textwrap.dedent(
    """
    import sys
    from sqlalchemy import text
    from identity import audit
    from identity.audit.refs import Actor
    from identity.db import Database

    db = Database(sys.argv[1])
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # connected and warm before the start signal
    print("ready", flush=True)
    sys.stdin.readline()  # both writers start together
    for i in range(int(sys.argv[3])):
        with db.transaction() as session:
            actor = Actor.operator(sys.argv[2])
            audit.record(session, "test.concurrent", actor=actor, details={"i": i})
    db.dispose()
    """
)


def test_two_writer_processes_and_a_sequencer_never_skip_or_repeat_an_entry(log, database_url):
    per_writer = 300
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, database_url, f"writer-{n}", str(per_writer)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for w in writers:
        assert w.stdout.readline().strip() == "ready", w.stderr.read()
    log.sequencer.start()  # places entries while they are written
    for w in writers:
        w.stdin.write("go\n")
        w.stdin.flush()
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    log.sequencer.stop()
    log.sequencer.drain()
    with log.db.read() as session:
        rows = session.execute(
            select(AuditEntryRow.actor, AuditEntryRow.details, AuditEntryRow.leaf_index).where(
                AuditEntryRow.action == "test.concurrent"
            )
        ).all()
    assert len(rows) == 2 * per_writer
    for writer in ("writer-0", "writer-1"):
        seen = sorted(d["i"] for a, d, _ in rows if a == f"operator:{writer}")
        assert seen == list(range(per_writer))  # each once
    placed = sorted(i for i in indexes(log) if i is not None)
    assert placed == list(range(len(placed)))  # contiguous: nothing skipped or repeated
    assert verify(log).ok


LEADER = textwrap.dedent(
    """
    import sys, time
    from identity.audit.checkpoints import CheckpointKeys
    from identity.audit.sequencer import Sequencer
    from identity.db import Database

    def stall(session, entries):
        print("mid-batch", len(entries), flush=True)
        time.sleep(600)  # killed here, holding the batch's transaction

    db = Database(sys.argv[1])
    keys = CheckpointKeys(db, sys.argv[3].encode(), sys.argv[2])
    Sequencer(db, keys, listeners=[stall]).run_once()
    """
)


def test_a_leader_killed_mid_batch_loses_skips_and_repeats_nothing(log, database_url):
    append(log, 20)
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER, database_url, log.audit_keys.origin, TEST_SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = leader.stdout.readline()
    assert line.startswith("mid-batch"), leader.stderr.read()
    leader.kill()  # SIGKILL: no clean-up, the database rolls its batch back
    leader.communicate(timeout=30)
    log.sequencer.drain()  # another process takes over
    placed = indexes(log)
    assert None not in placed
    assert sorted(placed) == list(range(len(placed)))
    assert verify(log).ok


def test_one_sequencer_is_active_per_database(log, backend):
    from identity.audit.sequencer import LEADER_LOCK
    from identity.db import Leadership

    first, second = Leadership(log.db, LEADER_LOCK), Leadership(log.db, LEADER_LOCK)
    try:
        assert first.held()
        # PostgreSQL: an advisory lock, one holder; SQLite: turns under the write lock.
        assert second.held() is (backend == "sqlite")
        first.release()
        assert second.held()
    finally:
        first.release()
        second.release()
