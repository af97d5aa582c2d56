"""The audit log on a real database: atomic with its change, tamper-evident, never forked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import select, text, update

from identity import audit
from identity.audit.models import AuditEntryRow
from identity.audit.refs import SYSTEM, Subject
from identity.db import Database


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


def append(db: Database, n: int, action: str = "test.event") -> None:
    for i in range(n):
        with db.transaction() as session:
            audit.record(
                session, action, actor=SYSTEM, subject=Subject.user(str(i)), details={"i": i}
            )


def test_an_entry_exists_if_and_only_if_its_transaction_committed(db):
    class Boom(Exception):
        pass

    def change_then_fail() -> None:
        with db.transaction() as session:
            audit.record(session, "test.rolled_back", actor=SYSTEM)
            raise Boom

    with pytest.raises(Boom):
        change_then_fail()
    with db.transaction() as session:
        audit.record(session, "test.committed", actor=SYSTEM)
    with db.read() as session:
        rows = session.scalars(select(AuditEntryRow)).all()
    assert [(r.seq, r.action) for r in rows] == [(1, "test.committed")]
    with db.read() as session:
        assert audit.verify(session).ok


def test_entries_are_chained_in_sequence(db):
    append(db, 3)
    with db.read() as session:
        rows = session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq)).all()
        result = audit.verify(session)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[1].prev_hash == rows[0].hash
    assert (result.ok, result.checked, result.head_seq) == (True, 3, 3)


def tamper(db: Database, statement: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "seq", "kind"),
    [
        ("UPDATE audit_entry SET actor = 'someone-else' WHERE seq = 3", 3, "edited"),
        ("UPDATE audit_entry SET subject = NULL WHERE seq = 4", 4, "edited"),
        ("DELETE FROM audit_entry WHERE seq = 2", 2, "deleted"),
        ("DELETE FROM audit_entry WHERE seq = 5", 5, "deleted"),
    ],
    ids=["edited-actor", "edited-subject", "deleted-middle", "deleted-last"],
)
def test_tampering_is_detected_and_the_first_bad_entry_named(db, statement, seq, kind):
    append(db, 5)
    tamper(db, statement)
    with db.read() as session:
        problem = audit.verify(session).problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (seq, kind)


def test_reordering_two_entries_is_detected(db):
    append(db, 5)
    with db.engine.begin() as connection:
        connection.execute(update(AuditEntryRow).where(AuditEntryRow.seq == 3).values(seq=-3))
        connection.execute(update(AuditEntryRow).where(AuditEntryRow.seq == 4).values(seq=3))
        connection.execute(update(AuditEntryRow).where(AuditEntryRow.seq == -3).values(seq=4))
    with db.read() as session:
        problem = audit.verify(session).problem
    assert (problem.seq, problem.kind) == (3, "reordered")


def test_an_inserted_entry_is_detected(db):
    append(db, 3)
    with db.read() as session:
        last = session.get(AuditEntryRow, 3)
    with db.engine.begin() as connection:
        connection.execute(
            AuditEntryRow.__table__.insert().values(
                seq=4,
                at=last.at,
                action="forged",
                actor="operator:attacker",
                subject=None,
                details={},
                prev_hash=last.hash,
                hash="f" * 64,
            )
        )
    with db.read() as session:
        problem = audit.verify(session).problem
    assert problem.seq == 4


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


def test_identity_audit_verify_exits_1_naming_the_entry(db, database_url):
    append(db, 4)
    ok = run_cli(database_url, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "intact: 4 entries" in ok.stdout
    tamper(db, "UPDATE audit_entry SET action = 'quietly.changed' WHERE seq = 2")
    broken = run_cli(database_url, "audit", "verify")
    assert broken.returncode == 1
    assert "entry #2" in broken.stdout


WRITER = textwrap.dedent(
    """
    import sys
    from sqlalchemy import text
    from identity import audit
    from identity.db import Database

    db = Database(sys.argv[1])
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # connected and warm before the start signal
    print("ready", flush=True)
    sys.stdin.readline()  # both writers start together
    import time
    started = time.time()
    for i in range(int(sys.argv[3])):
        with db.transaction() as session:
            audit.record(session, "test.concurrent", actor=sys.argv[2], details={"i": i})
    print(started, time.time(), flush=True)
    db.dispose()
    """
)


def test_two_writer_processes_never_fork_the_chain(db, database_url):
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
    for w in writers:
        w.stdin.write("go\n")
        w.stdin.flush()
    spans = []
    for w in writers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        spans.append(tuple(float(x) for x in out.split()))
    with db.read() as session:
        result = audit.verify(session)
        actors = session.scalars(select(AuditEntryRow.actor).order_by(AuditEntryRow.seq)).all()
    assert result.ok, result.problem
    assert result.checked == 2 * per_writer
    assert sorted(set(actors)) == ["writer-0", "writer-1"]
    # The writers really ran at the same time (SQLite may still let one win the lock
    # repeatedly; PostgreSQL queues them fairly): their writing periods overlap.
    assert max(start for start, _ in spans) < min(end for _, end in spans)
