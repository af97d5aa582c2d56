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

import logging
import threading
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
from identity.db import Database, Leadership, utcnow

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
        self._leadership = Leadership(db, LEADER_LOCK)
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
            busy = False
            try:
                if self._leadership.held():
                    busy = self.run_once() >= self._batch_size
            except Exception:  # the database may be briefly unavailable; keep the loop alive
                log.exception("audit sequencing round failed")
            if not busy:
                self._wake.wait(self._poll)
                self._wake.clear()
