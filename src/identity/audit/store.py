"""Reading the log: entries by index, proofs, checkpoints and the sequencer's status.

Proofs come from the stored hashes (:mod:`identity.audit.merkle`): one indexed query of at
most ``2 * log2(n)`` hashes per proof, whatever the size of the log.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from identity.audit.merkle import (
    HashReader,
    prove_record,
    prove_tree,
    stored_hash_index,
    tree_hash,
)
from identity.audit.models import (
    TREE_ID,
    AuditCheckpointRow,
    AuditEntryRow,
    AuditHashRow,
    AuditTreeRow,
)
from identity.audit.rules import Entry, PurgedEntry
from identity.db import Database, utcnow
from identity.errors import InvalidInput, NotFound

ENTRY = AuditEntryRow.__table__
# An entry's columns in :class:`Entry`'s order: ``Entry(*row)``, ``entry_bytes(*row)``.
ENTRY_COLUMNS = tuple(
    ENTRY.c[name] for name in ("leaf_index", "at", "action", "actor", "subject", "details")
)


def reader(session: Session) -> HashReader:
    """Stored hashes by index, in the order asked, in one query."""

    def read(indexes: Sequence[int]) -> list[bytes]:
        if not indexes:
            return []
        rows = session.execute(
            select(AuditHashRow.index, AuditHashRow.hash).where(
                AuditHashRow.index.in_(list(indexes))
            )
        ).all()
        found = {i: bytes(h) for i, h in rows}
        return [found[i] for i in indexes if i in found]

    return read


def leaf_hashes(session: Session, leaves: Sequence[int]) -> dict[int, bytes]:
    """The stored leaf hashes of entries ``leaves``, by leaf index, in one query."""
    wanted = {stored_hash_index(0, i): i for i in leaves}
    rows = session.execute(
        select(AuditHashRow.index, AuditHashRow.hash).where(AuditHashRow.index.in_(list(wanted)))
    ).all()
    return {wanted[i]: bytes(h) for i, h in rows}


def entries_of(session: Session, rows: Sequence[AuditEntryRow]) -> dict[int, Entry | PurgedEntry]:
    """Placed entries by leaf index; a purged one with its stored leaf hash (empty where the
    tree lacks it: `identity audit verify` names that), all of them read in one query."""
    purged = [row.leaf_index for row in rows if row.purged_at is not None]
    leaves = leaf_hashes(session, [i for i in purged if i is not None]) if purged else {}
    found: dict[int, Entry | PurgedEntry] = {}
    for row in rows:
        index = row.leaf_index
        assert index is not None
        if row.purged_at is None:
            found[index] = entry_of(row)
        else:
            found[index] = PurgedEntry(index, row.at, row.action, leaves.get(index, b""))
    return found


class UnknownEntry(NotFound):
    slug = "unknown-entry"
    title = "No such entry in the log"


class BadTreeSize(InvalidInput):
    slug = "bad-tree-size"
    title = "The log has no tree of that size"


@dataclass(frozen=True)
class Status:
    size: int
    unsequenced: int
    oldest_unsequenced_age: float | None  # seconds
    lag_p50: float | None  # seconds between writing and sequencing, recent entries
    lag_p99: float | None
    checkpoint_size: int | None
    checkpoint_age: float | None


PURGED_AT = ENTRY.c.purged_at  # set once an entry's contents were purged (retention)


def entry_of(row: AuditEntryRow) -> Entry:
    assert row.leaf_index is not None
    return Entry(row.leaf_index, row.at, row.action, row.actor, row.subject, row.details)


_TREE_SIZE = (
    select(AuditTreeRow.size).where(AuditTreeRow.id == TREE_ID).scalar_subquery().label("size")
)


def _within(size: int, *sizes: int) -> None:
    for n in sizes:
        if not 0 <= n <= size:
            raise BadTreeSize(f"the log's tree has {size} entries; {n} is beyond it")


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def size(self, session: Session) -> int:
        return int(
            session.execute(
                select(AuditTreeRow.size).where(AuditTreeRow.id == TREE_ID)
            ).scalar_one()
        )

    def entry(self, index: int) -> Entry | PurgedEntry:
        """Entry ``index``, or what is left of it once purged (with its stored leaf hash)."""
        with self._db.read() as session:
            row = session.scalar(select(AuditEntryRow).where(AuditEntryRow.leaf_index == index))
            if row is None:
                raise UnknownEntry(f"the log has no entry {index}")
            found = entries_of(session, [row])[index]
            if isinstance(found, PurgedEntry) and not found.leaf:
                raise UnknownEntry(f"the log has no leaf hash for entry {index}")
            return found

    def _sizes(self, session: Session, *sizes: int) -> int:
        size = self.size(session)
        _within(size, *sizes)
        return size

    def inclusion(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``: the hashes and
        the tree's size in one query (a proof is asked for often, by outsiders)."""
        with self._db.read() as session:
            if not 0 <= index < size:
                self._sizes(session, size)
                raise UnknownEntry(f"a tree of {size} entries has no entry {index}")
            sized = False

            def read(indexes: Sequence[int]) -> list[bytes]:
                nonlocal sized
                rows = session.execute(
                    select(AuditHashRow.index, AuditHashRow.hash, _TREE_SIZE).where(
                        AuditHashRow.index.in_(list(indexes))
                    )
                ).all()
                if rows:
                    _within(rows[0][2], size)
                else:
                    self._sizes(session, size)
                sized = True
                found = {i: bytes(h) for i, h, _ in rows}
                return [found[i] for i in indexes if i in found]

            proof = prove_record(size, index, read)
            if not sized:  # a tree of one entry: its proof needs no hash
                self._sizes(session, size)
            return proof

    def consistency(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency proof from the tree of ``first`` entries to ``second``."""
        if first > second:
            raise BadTreeSize("a consistency proof goes from a smaller tree to a larger one")
        with self._db.read() as session:
            self._sizes(session, first, second)
            return prove_tree(second, first, reader(session))

    def root(self, size: int) -> bytes:
        with self._db.read() as session:
            self._sizes(session, size)
            return tree_hash(size, reader(session))

    def latest_checkpoint(self) -> AuditCheckpointRow | None:
        with self._db.read() as session:
            return session.scalar(
                select(AuditCheckpointRow).order_by(AuditCheckpointRow.size.desc()).limit(1)
            )

    def status(self, recent: int = 1000) -> Status:
        now = utcnow()
        with self._db.read() as session:
            size = self.size(session)
            waiting = session.execute(
                select(func.count(), func.min(AuditEntryRow.at)).where(
                    AuditEntryRow.leaf_index.is_(None)
                )
            ).one()
            lags = [
                (s - a).total_seconds()
                for a, s in session.execute(
                    select(AuditEntryRow.at, AuditEntryRow.sequenced_at)
                    .where(AuditEntryRow.leaf_index.is_not(None))
                    .order_by(AuditEntryRow.leaf_index.desc())
                    .limit(recent)
                ).all()
            ]
            checkpoint = session.execute(
                select(AuditCheckpointRow.size, AuditCheckpointRow.created_at)
                .order_by(AuditCheckpointRow.size.desc())
                .limit(1)
            ).first()
        return Status(
            size=size,
            unsequenced=int(waiting[0]),
            oldest_unsequenced_age=_age(now, waiting[1]),
            lag_p50=statistics.median(lags) if lags else None,
            lag_p99=_percentile(lags, 0.99),
            checkpoint_size=checkpoint[0] if checkpoint else None,
            checkpoint_age=_age(now, checkpoint[1]) if checkpoint else None,
        )


def _age(now: datetime, at: datetime | None) -> float | None:
    return None if at is None else (now - at).total_seconds()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
