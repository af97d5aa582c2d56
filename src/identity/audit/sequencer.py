"""The sequencer: gives committed entries their place in the log, in batches, and signs
checkpoints.

Writers insert entries with no lock and no counter (:func:`identity.audit.record`); an entry
becomes visible when its transaction commits, in whatever order transactions commit. One
sequencer at a time takes the visible, unsequenced entries (oldest first), gives them the
next contiguous leaf indexes, appends their leaf and subtree hashes to the tree, moves the
tree's size and root, lets listeners act on them (the consent change feed takes its order
from here), and every few seconds signs a checkpoint: all in one transaction.

Why nothing is skipped or repeated: an entry is taken only while its index is NULL and the
sequencer holds the tree row's lock, so a batch that fails or a process killed mid-batch
rolls back whole and the next batch takes the same entries again; an entry whose writer
commits late is simply taken by a later batch. One sequencer is *active* per database: on
PostgreSQL the process holding an advisory lock (any number of server processes can run; if
the leader dies its session ends, the lock is free, and another process takes over within a
poll); on SQLite each process's sequencer takes its turn under the database's write lock.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from identity.audit.checkpoints import CheckpointKeys
from identity.audit.merkle import leaf_hash, stored_hashes_for_batch, tree_hash
from identity.audit.models import (
    TREE_ID,
    AuditCheckpointRow,
    AuditEntryRow,
    AuditHashRow,
    AuditTreeRow,
)
from identity.audit.notes import Checkpoint, sign_note
from identity.audit.rules import Entry
from identity.audit.service import WROTE_ENTRIES
from identity.audit.store import reader
from identity.db import Database, utcnow

log = logging.getLogger(__name__)

LEADER_LOCK = zlib.crc32(b"identity.audit.sequencer")  # the PostgreSQL advisory lock key


@dataclass(frozen=True, slots=True)
class Sequenced:
    """An entry that has just been given its place: what listeners need."""

    index: int
    action: str
    details: dict[str, Any]


class SequencedListener(Protocol):
    def __call__(self, session: Session, entries: Sequence[Sequenced]) -> None:
        """Called inside the sequencing transaction, entries in log order."""


class Leadership:
    """Whether this process is the one that sequences.

    PostgreSQL: a session-level advisory lock, tried on one connection of this process's own
    that stays open whether the lock was won or not, and is replaced only when it breaks (its
    session, and any lock it held, ended with it). A follower asks once per call (its loop calls
    at the poll interval); the leader re-checks that its session is alive at most every
    ``check_every`` seconds. Between checks a leader whose session just died may run one more
    round beside its successor: harmless, since a batch is taken only under the tree row's lock
    (:class:`Sequencer`). SQLite: always; the database's write lock takes turns.
    """

    def __init__(self, db: Database, *, check_every: float = 0.0) -> None:
        self._db = db
        self._check_every = check_every
        self._connection: Any = None
        self._leader = False
        self._checked_at = 0.0

    def held(self) -> bool:
        if self._db.dialect == "sqlite":
            return True
        if self._leader and time.monotonic() - self._checked_at < self._check_every:
            return True
        for attempt in (1, 2):
            try:
                self._leader = self._ask()
                break
            except Exception:
                self.release()  # a broken session has lost its lock too: once more, anew
                if attempt == 2:
                    raise
        self._checked_at = time.monotonic()
        return self._leader

    def _ask(self) -> bool:
        if self._connection is None:
            proxied = self._db.engine.raw_connection()
            self._connection = proxied.driver_connection
            proxied.detach()  # the lock lives as long as this session: the pool must not reuse it
            self._connection.autocommit = True
        if self._leader:
            self._connection.execute("SELECT 1")
            return True
        got = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,))
        row = got.fetchone()
        return bool(row and row[0])

    def release(self) -> None:
        connection, self._connection, self._leader = self._connection, None, False
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


class Sequencer:
    def __init__(
        self,
        db: Database,
        keys: CheckpointKeys,
        *,
        batch_size: int = 1000,
        checkpoint_interval: timedelta = timedelta(seconds=5),
        poll_interval: timedelta = timedelta(milliseconds=200),
        listeners: Sequence[SequencedListener] = (),
    ) -> None:
        self._db = db
        self._keys = keys
        self._batch_size = batch_size
        self._checkpoint_interval = checkpoint_interval
        self._poll = poll_interval.total_seconds()
        self._listeners = tuple(listeners)
        self._leadership = Leadership(db, check_every=self._poll)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        db.after_commit(self._on_commit)

    # -- one round -------------------------------------------------------------------------------

    def run_once(self, *, checkpoint: bool | None = None) -> int:
        """Sequence one batch (if any) and sign a checkpoint when one is due (``checkpoint``:
        True forces one for the current size, False never). Returns how many entries."""
        with self._db.transaction() as session:
            tree = session.execute(
                select(AuditTreeRow).where(AuditTreeRow.id == TREE_ID).with_for_update()
            ).scalar_one()
            count = self._integrate(session, tree)
            if checkpoint or (checkpoint is None and self._checkpoint_due(session, tree)):
                self._sign(session, tree)
        return count

    def drain(self) -> int:
        """Sequence until nothing is waiting, then sign a checkpoint (the CLI, tests)."""
        total = 0
        while (count := self.run_once(checkpoint=False)) > 0:
            total += count
        self.run_once(checkpoint=True)
        return total

    def _integrate(self, session: Session, tree: AuditTreeRow) -> int:
        rows = session.execute(
            select(
                AuditEntryRow.id,
                AuditEntryRow.at,
                AuditEntryRow.action,
                AuditEntryRow.actor,
                AuditEntryRow.subject,
                AuditEntryRow.details,
            )
            .where(AuditEntryRow.leaf_index.is_(None))
            .order_by(AuditEntryRow.id)
            .limit(self._batch_size)
        ).all()
        if not rows:
            return 0
        size = tree.size
        leaves = [leaf_hash(Entry(size + i, *r[1:]).data()) for i, r in enumerate(rows)]
        hashes = stored_hashes_for_batch(size, leaves, reader(session))
        session.execute(insert(AuditHashRow), [{"index": i, "hash": h} for i, h in hashes])
        now = utcnow()
        session.execute(
            update(AuditEntryRow),
            [{"id": r[0], "leaf_index": size + i, "sequenced_at": now} for i, r in enumerate(rows)],
        )
        tree.size = size + len(rows)
        tree.root_hash = tree_hash(tree.size, reader(session))
        tree.updated_at = now
        sequenced = [Sequenced(size + i, r[2], r[5]) for i, r in enumerate(rows)]
        for listener in self._listeners:
            listener(session, sequenced)
        return len(rows)

    def _checkpoint_due(self, session: Session, tree: AuditTreeRow) -> bool:
        last = session.execute(
            select(AuditCheckpointRow.size, AuditCheckpointRow.created_at)
            .order_by(AuditCheckpointRow.size.desc())
            .limit(1)
        ).first()
        if last is None:
            return True
        size, created_at = last
        return bool(tree.size > size and utcnow() - created_at >= self._checkpoint_interval)

    def _sign(self, session: Session, tree: AuditTreeRow) -> None:
        if session.get(AuditCheckpointRow, tree.size) is not None:
            return  # this size is signed already
        checkpoint = Checkpoint(self._keys.origin, tree.size, tree.root_hash)
        session.add(
            AuditCheckpointRow(
                size=tree.size,
                root_hash=tree.root_hash,
                note=sign_note(checkpoint.to_text(), self._keys.signer()),
                created_at=utcnow(),
            )
        )

    # -- the background thread --------------------------------------------------------------------

    def _on_commit(self, session: Session) -> None:
        if session.info.pop(WROTE_ENTRIES, False):
            self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-sequencer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._leadership.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            leader = busy = False
            try:
                leader = self._leadership.held()
                busy = leader and self.run_once() >= self._batch_size
            except Exception:  # the database may be briefly unavailable; keep the loop alive
                log.exception("audit sequencing round failed")
            if busy:
                continue
            if leader:  # a commit of this process's own wakes it early
                self._wake.wait(self._poll)
            else:  # the leader is another process: a commit here changes nothing; ask anew
                self._stop.wait(self._poll)  # for the lock at the poll, and only then
            self._wake.clear()
