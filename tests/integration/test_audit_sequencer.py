"""The sequencer's leadership and its costs to the process it runs in: two sequencers on one
PostgreSQL database, one leads and the other takes over when the leader's connection dies, with
no entry placed twice and none lost; a follower keeps one connection for the leader lock and
asks for it at the poll interval, not once per commit; a batch places its entries with a fixed
number of statements, whatever its size."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from freezegun import freeze_time
from sqlalchemy import event, func, select, text

from identity import audit
from identity.audit.merkle import stored_hash_count
from identity.audit.models import AuditEntryRow, AuditHashRow
from identity.audit.refs import SYSTEM
from identity.audit.sequencer import LEADER_LOCK
from identity.audit.verify import verify_database
from identity.db import Leadership
from identity.runtime import Runtime
from tests.conftest import TEST_SECRET

T = TypeVar("T")

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
    holder = Leadership(pg_log.db, LEADER_LOCK)
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


LEADER_QUERY = text(
    "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
    " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
)  # advisory locks are per database; other test workers use databases of their own


def leader_pid(connection: Any) -> int:
    return int(connection.execute(LEADER_QUERY).scalar_one())


def current_leader(connection: Any) -> int | None:
    pid = connection.execute(LEADER_QUERY).scalar_one_or_none()
    return None if pid is None else int(pid)


# Sequencers as server processes run them, polling fast and placing small batches, so that a
# hand-over falls in the middle of the work.
FAST = {"audit_poll_interval": timedelta(milliseconds=50), "audit_batch_size": 5}
TERMINATE = text("SELECT pg_terminate_backend(:pid)")


@pytest.fixture
def make_process(pg_log: Any, make_settings: Callable[..., Any]) -> Iterator[Callable[[], Any]]:
    """Runtimes as separate server processes have them: a database object (its pool, its
    leader connection) and a sequencer of their own."""
    built: list[Runtime] = []

    def make() -> Runtime:
        built.append(Runtime.build(make_settings(**FAST)))
        return built[-1]

    yield make
    for runtime in built:
        runtime.close()


def wait_for(condition: Callable[[], T], failure: str, timeout: float = 30.0) -> T:
    """The first truthy value of ``condition``, asked until ``timeout`` (background work)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, failure
        time.sleep(0.02)
    return value


def waiting(connection: Any) -> int:
    query = text("SELECT count(*) FROM audit_entry WHERE leaf_index IS NULL")
    return int(connection.execute(query).scalar_one())


def placed(connection: Any, action: str) -> int:
    query = text("SELECT count(*) FROM audit_entry WHERE leaf_index >= 0 AND action = :a")
    return int(connection.execute(query, {"a": action}).scalar_one())


def tree_size(connection: Any) -> int:
    return int(connection.execute(text("SELECT size FROM audit_tree")).scalar_one())


def grows(connection: Any, by: int) -> Callable[[], bool]:
    """Whether the tree has grown by ``by`` entries since this was asked."""
    target = tree_size(connection) + by
    return lambda: tree_size(connection) >= target


def led_by_another_session(connection: Any, pid: int) -> Callable[[], bool]:
    return lambda: current_leader(connection) not in (None, pid)


def write(runtime: Any, action: str, numbers: range) -> None:
    for i in numbers:
        with runtime.db.transaction() as session:
            audit.record(session, action, actor=SYSTEM, details={"i": i})


def assert_each_entry_placed_once(runtime: Any, written: dict[str, int | None]) -> None:
    """Every entry has exactly one place, the places are 0..size-1, the stored hashes are a
    tree's, and each writer's entries (``written``: how many, None if unknown) are all there."""
    with runtime.db.read() as session:
        rows = session.execute(
            select(AuditEntryRow.action, AuditEntryRow.details, AuditEntryRow.leaf_index)
        ).all()
        size = runtime.audit_log.size(session)
        hashes = session.scalar(select(func.count()).select_from(AuditHashRow))
        keys = runtime.audit_keys
        verified = verify_database(session, keys.verifiers(), keys.origin)
    places = [index for _, _, index in rows]
    assert None not in places  # none lost
    assert sorted(places) == list(range(size))  # none placed twice, none skipped
    assert hashes == stored_hash_count(size)  # no batch's hashes stored twice
    for action, count in written.items():
        numbers = sorted(details["i"] for a, details, _ in rows if a == action)
        assert numbers == list(range(len(numbers) if count is None else count))
    assert verified.ok, verified.problem


# A server process that sequences (it starts first, so it leads) and writes until killed.
FIRST_PROCESS = textwrap.dedent(
    """
    import sys, time
    from datetime import timedelta
    from identity import audit
    from identity.audit.checkpoints import CheckpointKeys
    from identity.audit.refs import SYSTEM
    from identity.audit.sequencer import Sequencer
    from identity.db import Database

    db = Database(sys.argv[1])
    keys = CheckpointKeys(db, sys.argv[3].encode(), sys.argv[2])
    Sequencer(db, keys, batch_size=5, poll_interval=timedelta(milliseconds=50)).start()
    print("started", flush=True)
    i = 0
    while True:
        with db.transaction() as session:
            audit.record(session, "test.first", actor=SYSTEM, details={"i": i})
        i += 1
        time.sleep(0.002)  # a steady stream, not a flood of the shared cores
    """
)


def test_when_the_leader_dies_the_other_sequencer_takes_over_and_places_each_entry_once(
    pg_log, make_process, database_url
):
    second = make_process()
    first = subprocess.Popen(
        [sys.executable, "-c", FIRST_PROCESS, database_url, pg_log.audit_keys.origin, TEST_SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline().strip() == "started", first.stderr.read()
        with watching(pg_log) as watcher:
            dead = wait_for(lambda: current_leader(watcher), "the first sequencer never led")
            wait_for(lambda: placed(watcher, "test.first") >= 20, "the leader placed nothing")
            second.sequencer.start()
            write(second, "test.second", range(30))
            assert current_leader(watcher) == dead  # the second follows while the first lives
            first.kill()  # SIGKILL: its sessions end with it, mid-batch or not
            first.communicate(timeout=30)
            write(second, "test.second", range(30, 60))
            wait_for(led_by_another_session(watcher, dead), "the second never took over")
            wait_for(lambda: waiting(watcher) == 0, "entries left waiting")
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=30)
    second.sequencer.stop()
    assert_each_entry_placed_once(pg_log, {"test.first": None, "test.second": 60})


def test_sequencers_whose_leader_loses_its_session_again_and_again_place_each_entry_once(
    pg_log, make_process
):
    """The leader's session is cut while it works (its process lives on): until it notices,
    it may run a round beside its successor; the tree row's lock keeps that harmless."""
    processes = {"test.one": make_process(), "test.two": make_process()}
    written = dict.fromkeys(processes, 0)
    stop = threading.Event()

    def writing(action: str) -> None:
        while not stop.is_set():
            write(processes[action], action, range(written[action], written[action] + 1))
            written[action] += 1

    writers = [threading.Thread(target=writing, args=(a,)) for a in processes]
    for runtime in processes.values():
        runtime.sequencer.start()
    for thread in writers:
        thread.start()
    try:
        with watching(pg_log) as watcher:
            for _ in range(4):
                leader = wait_for(lambda: current_leader(watcher), "no sequencer leads")
                wait_for(grows(watcher, by=10), "the leader places nothing")
                watcher.execute(TERMINATE, {"pid": leader})
                wait_for(led_by_another_session(watcher, leader), "no sequencer took over")
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=30)
    with watching(pg_log) as watcher:
        wait_for(lambda: waiting(watcher) == 0, "entries left waiting")
    for runtime in processes.values():
        runtime.sequencer.stop()
    assert_each_entry_placed_once(pg_log, written)


def test_a_follower_asks_for_the_lock_on_one_connection_of_its_own(pg_log, elsewhere):
    follower = Leadership(pg_log.db, LEADER_LOCK)
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
    follower = Leadership(pg_log.db, LEADER_LOCK)
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


def statements_of_a_round(runtime: Any, n: int) -> list[str]:
    """The statements of the round that places ``n`` entries written just before it."""
    write(runtime, "test.event", range(n))
    sent: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(" ".join(statement.split()))

    event.listen(runtime.db.engine, "before_cursor_execute", keep)
    try:
        assert runtime.sequencer.run_once() == n
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", keep)
    return sent


def reads_of(table: str, statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT") and f"FROM {table}" in s]


def test_a_round_after_its_own_reads_neither_the_trees_edge_nor_the_last_checkpoint(runtime):
    runtime.audit_keys.ensure()
    with freeze_time("2026-12-01 09:00:00") as clock:
        runtime.sequencer.drain()  # signs a checkpoint, leaves its edge
        clock.tick(1)  # the next checkpoint is not due for a while
        later = statements_of_a_round(runtime, 3)
        assert reads_of("audit_hash", later) == []
        assert reads_of("audit_checkpoint", later) == []
        clock.tick(10)  # ... and now it is: this round asks, and signs
        due = statements_of_a_round(runtime, 2)
        assert reads_of("audit_checkpoint", due)
    with runtime.db.read() as session:
        keys = runtime.audit_keys
        verified = verify_database(session, keys.verifiers(), keys.origin)
    assert verified.ok, verified.problem
    assert verified.checkpoints == 2


def test_sequencers_taking_turns_grow_one_tree(runtime, make_settings):
    """Each remembers the tree's edge from its own last round; after the other's rounds that
    edge is stale and must be read anew, or the roots would stop matching the stored hashes."""
    runtime.audit_keys.ensure()
    runtime.sequencer.drain()
    other = Runtime.build(make_settings())
    try:
        for turn in range(6):
            sequencer = (runtime if turn % 2 == 0 else other).sequencer
            write(runtime, f"test.turn{turn}", range(turn + 1))
            assert sequencer.run_once() == turn + 1
    finally:
        other.close()
    assert_each_entry_placed_once(runtime, {f"test.turn{t}": t + 1 for t in range(6)})
