"""The sequencer's costs to the process it runs in: a follower keeps one connection for the
leader lock and asks for it at the poll interval, not once per commit; a batch places its
entries with a fixed number of statements, whatever its size."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from identity import audit
from identity.audit.refs import SYSTEM
from identity.audit.sequencer import Leadership

POLL = 0.2  # the runtime's default IDENTITY_AUDIT_POLL_INTERVAL


@pytest.fixture
def pg_log(runtime: Any, backend: str) -> Any:
    if backend == "sqlite":
        pytest.skip("SQLite has no leader lock: each process takes its turn at the write lock")
    runtime.audit_keys.ensure()
    return runtime


@pytest.fixture
def elsewhere(pg_log: Any) -> Iterator[Leadership]:
    """The leader lock, held as if by another process."""
    holder = Leadership(pg_log.db)
    assert holder.held()
    yield holder
    holder.release()


def watching(runtime: Any) -> Any:
    """A connection outside any transaction: PostgreSQL's statistics views are snapshots
    taken once per transaction."""
    return runtime.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def sessions(connection: Any) -> set[int]:
    """The backends connected to this database (PostgreSQL's own view)."""
    query = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    return set(connection.execute(query).scalars())


def leader_pid(connection: Any) -> int:
    query = text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
    return int(connection.execute(query).scalar_one())


def test_a_follower_asks_for_the_lock_on_one_connection_of_its_own(pg_log, elsewhere):
    follower = Leadership(pg_log.db)
    pg_log.db.engine.dispose()  # no idle connection in the pool: the follower opens its own
    connects: list[object] = []
    try:
        with watching(pg_log) as watcher:
            event.listen(pg_log.db.engine, "connect", lambda *_: connects.append(1))
            before = sessions(watcher)
            assert not follower.held()
            kept = sessions(watcher) - before
            assert len(kept) == 1  # its session, kept open for the next attempt
            for _ in range(25):
                assert not follower.held()
            assert sessions(watcher) - before == kept  # the same one: no session per poll
            assert len(connects) == 1
    finally:
        follower.release()


def test_a_follower_whose_session_broke_reconnects_and_takes_over_from_a_dead_leader(
    pg_log, elsewhere
):
    follower = Leadership(pg_log.db)
    pg_log.db.engine.dispose()  # no idle connection in the pool: the follower opens its own
    try:
        with watching(pg_log) as watcher:
            before = sessions(watcher)
            assert not follower.held()
            (mine,) = sessions(watcher) - before
            terminate = text("SELECT pg_terminate_backend(:pid)")
            watcher.execute(terminate, {"pid": mine})
            assert not follower.held()  # a new session, still not the leader
            watcher.execute(terminate, {"pid": leader_pid(watcher)})  # the leader dies
            deadline = time.monotonic() + 10
            while not follower.held():  # its session's end frees the lock
                assert time.monotonic() < deadline, "the lock of a dead leader stays taken"
                time.sleep(0.05)
            assert leader_pid(watcher) in sessions(watcher) - before
    finally:
        follower.release()


def test_a_follower_asks_at_the_poll_interval_not_at_every_commit(pg_log, elsewhere, monkeypatch):
    asked: list[float] = []
    ask = Leadership.held

    def counting(self: Leadership) -> bool:
        asked.append(time.monotonic())
        return ask(self)

    monkeypatch.setattr(Leadership, "held", counting)
    pg_log.sequencer.start()
    try:
        started = time.monotonic()
        for i in range(60):  # each commit wakes this process's sequencer
            with pg_log.db.transaction() as session:
                audit.record(session, "test.event", actor=SYSTEM, details={"i": i})
            time.sleep(0.01)
        elapsed = time.monotonic() - started
    finally:
        pg_log.sequencer.stop()
    assert len(asked) <= elapsed / POLL + 2, f"{len(asked)} lock attempts in {elapsed:.1f} s"


def statements_placing(runtime: Any, n: int) -> int:
    """How many statements the sequencer sends to place a batch of ``n`` waiting entries."""
    for i in range(n):
        with runtime.db.transaction() as session:
            audit.record(session, "test.event", actor=SYSTEM, details={"i": i})
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", count)
    try:
        assert runtime.sequencer.run_once(checkpoint=False) == n
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", count)
    return len(sent)


def test_a_batch_is_placed_with_the_same_statements_whatever_its_size(runtime):
    runtime.audit_keys.ensure()  # logs the key's creation
    runtime.sequencer.drain()
    assert statements_placing(runtime, 2) == statements_placing(runtime, 300)
