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
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Protocol

from sqlalchemy import BigInteger, Integer, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from identity.audit.checkpoints import CheckpointKeys
from identity.audit.merkle import Frontier, leaf_hash, stored_hash_count
from identity.audit.models import (
    TREE_ID,
    AuditCheckpointRow,
    AuditEntryRow,
    AuditHashRow,
    AuditTreeRow,
)
from identity.audit.notes import Checkpoint, sign_note
from identity.audit.rules import entry_bytes
from identity.audit.service import WROTE_ENTRIES
from identity.audit.store import ENTRY_COLUMNS, reader
from identity.db import Database, Leadership, utcnow

log = logging.getLogger(__name__)

LEADER_LOCK = zlib.crc32(b"identity.audit.sequencer")  # the PostgreSQL advisory lock key

ENTRY, HASH = AuditEntryRow.__table__, AuditHashRow.__table__
TREE, CHECKPOINT = AuditTreeRow.__table__, AuditCheckpointRow.__table__


# A batch is two statements whatever its size (never one per entry: this runs in every server
# process, beside its request threads). The first takes the oldest waiting entries, gives them
# the places from ``size`` on and returns them, in one snapshot: an entry committed meanwhile
# is simply not in it.
_waiting = (
    select(
        ENTRY.c.id,
        (
            bindparam("size", type_=BigInteger) - 1 + func.row_number().over(order_by=ENTRY.c.id)
        ).label("place"),
    )
    .where(ENTRY.c.leaf_index.is_(None))
    .order_by(ENTRY.c.id)
    .limit(bindparam("limit", type_=Integer))
    .subquery()
)
_TAKE = (
    update(ENTRY)
    .where(ENTRY.c.id == _waiting.c.id)
    .values(leaf_index=_waiting.c.place, sequenced_at=bindparam("now"))
    .returning(*ENTRY_COLUMNS)  # as they are now: with their places
)
# The second stores the batch's hashes, whose indexes are consecutive (merkle). PostgreSQL
# gets them as one value cut up by the server: psycopg's executemany pipelines a statement per
# row, and an array of bytea is escaped element by element, each several times the CPU. SQLite's
# executemany is a loop in C, in process.
_STORE_PG = text(
    "INSERT INTO audit_hash (index, hash) SELECT :first + g, substring(:hashes FROM g * 32 + 1"
    " FOR 32) FROM generate_series(0, :count - 1) AS g"
)
_STORE = insert(HASH)


def _store(session: Session, first: int, hashes: list[bytes]) -> None:
    """Insert ``hashes`` at the stored-hash indexes from ``first`` on."""
    if session.get_bind().dialect.name == "postgresql":
        values = {"first": first, "hashes": b"".join(hashes), "count": len(hashes)}
        session.execute(_STORE_PG, values)
    else:
        session.execute(_STORE, [{"index": first + i, "hash": h} for i, h in enumerate(hashes)])


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
        round_interval: timedelta = timedelta(milliseconds=250),
        listeners: Sequence[SequencedListener] = (),
    ) -> None:
        self._db = db
        self._keys = keys
        self._batch_size = batch_size
        self._checkpoint_interval = checkpoint_interval
        self._poll = poll_interval.total_seconds()
        self._round_interval = round_interval.total_seconds()
        self._listeners = tuple(listeners)
        self._leadership = Leadership(db, LEADER_LOCK, check_every=self._poll)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        # What this process saw as its last round committed, so that a round under writes
        # needs neither the tree's right edge from the database nor the last checkpoint's time:
        # the edge of the tree whose size and root the tree row still holds (the root fixes
        # the tree, so another leader's rounds in between are seen as a different root), and
        # when the newest checkpoint known was signed (another process signing since only
        # makes the next one due later).
        self._edge: tuple[bytes, Frontier] | None = None
        self._signed_at: datetime | None = None
        db.after_commit(self._on_commit)

    # -- one round -------------------------------------------------------------------------------

    def run_once(self, *, checkpoint: bool | None = None) -> int:
        """Sequence one batch (if any) and sign a checkpoint when one is due (``checkpoint``:
        True forces one for the current size, False never). Returns how many entries."""
        signed_at = None
        with self._db.transaction() as session:
            size, root = session.execute(
                select(TREE.c.size, TREE.c.root_hash).where(TREE.c.id == TREE_ID).with_for_update()
            ).one()
            grown = self._integrate(session, size, bytes(root))
            count = grown.size - size if grown else 0
            if grown:
                size, root = grown.size, grown.root()
                session.execute(
                    update(TREE)
                    .where(TREE.c.id == TREE_ID)
                    .values(size=size, root_hash=root, updated_at=utcnow())
                )
            if checkpoint or (checkpoint is None and self._checkpoint_due(session, size)):
                signed_at = self._sign(session, size, bytes(root))
        if grown:
            self._edge = (bytes(root), grown)
        if signed_at is not None:
            self._signed_at = signed_at
        return count

    def drain(self) -> int:
        """Sequence until nothing is waiting, then sign a checkpoint (the CLI, tests)."""
        total = 0
        while (count := self.run_once(checkpoint=False)) > 0:
            total += count
        self.run_once(checkpoint=True)
        return total

    def _integrate(self, session: Session, size: int, root: bytes) -> Frontier | None:
        """Place the oldest waiting entries from leaf ``size`` on, in the tree of that size
        and ``root``: the tree's new right edge, or None when none was waiting."""
        taken = {"size": size, "limit": self._batch_size, "now": utcnow()}
        rows = sorted(session.execute(_TAKE, taken).all(), key=itemgetter(0))
        if not rows:
            return None
        tree = self._edge_of(session, size, root)
        hashes = [h for r in rows for h in tree.append(leaf_hash(entry_bytes(*r)))]
        _store(session, stored_hash_count(size), hashes)
        sequenced = [Sequenced(r[0], r[2], r[5]) for r in rows]
        for listener in self._listeners:
            listener(session, sequenced)
        return tree

    def _edge_of(self, session: Session, size: int, root: bytes) -> Frontier:
        """The right edge of the stored tree of ``size`` leaves and ``root``, to append to:
        this process's own from its last round if that is still the tree, else read."""
        if self._edge is not None:
            seen_root, seen = self._edge
            if seen.size == size and seen_root == root:
                return seen.copy()
        return Frontier.of(size, reader(session))  # the one read of stored hashes

    def _checkpoint_due(self, session: Session, size: int) -> bool:
        if self._signed_at is not None and utcnow() - self._signed_at < self._checkpoint_interval:
            return False
        last = session.execute(
            select(CHECKPOINT.c.size, CHECKPOINT.c.created_at)
            .order_by(CHECKPOINT.c.size.desc())
            .limit(1)
        ).first()
        if last is None:
            return True
        signed, created_at = last
        self._signed_at = created_at
        return bool(size > signed and utcnow() - created_at >= self._checkpoint_interval)

    def _sign(self, session: Session, size: int, root: bytes) -> datetime | None:
        """Sign a checkpoint of the tree of ``size`` and ``root``; when, or None when that size
        is signed already."""
        signed = select(CHECKPOINT.c.size).where(CHECKPOINT.c.size == size)
        if session.execute(signed).first() is not None:
            return None
        note = sign_note(Checkpoint(self._keys.origin, size, root).to_text(), self._keys.signer())
        now = utcnow()
        session.execute(
            insert(CHECKPOINT).values(size=size, root_hash=root, note=note, created_at=now)
        )
        return now

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
            started = time.monotonic()
            try:
                leader = self._leadership.held()
                busy = leader and self.run_once() >= self._batch_size
            except Exception:  # the database may be briefly unavailable; keep the loop alive
                log.exception("audit sequencing round failed")
            if busy:
                continue
            if leader:  # a commit of this process's own wakes it early
                self._wake.wait(self._poll)
                # ... but under writes a round is a fixed cost (a transaction of several
                # statements) shared by what waits: let more commits join the next one
                # rather than run a round per commit beside the requests.
                if (pause := self._round_interval - (time.monotonic() - started)) > 0:
                    self._stop.wait(pause)
            else:  # the leader is another process: a commit here changes nothing; ask anew
                self._stop.wait(self._poll)  # for the lock at the poll, and only then
            self._wake.clear()
