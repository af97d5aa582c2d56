"""Verifying the log in the database, naming the first thing wrong.

Everything is recomputed from the entries in one streaming pass with O(log n) memory
(:class:`~identity.audit.merkle.Frontier`): each entry's leaf against the stored leaf hash,
every stored subtree hash, the root at every checkpoint size against that checkpoint (whose
signature must verify with one of the log's keys), and, given a checkpoint kept from
earlier (``trusted``), that the log still extends it. Successive checkpoints are consistent
exactly when each matches the one tree recomputed from the entries.

An entry purged past its retention (:mod:`.retention`) has no contents left to recompute: its
stored leaf hash stands for it, and the stored subtree hashes and roots above it must agree
with that hash; it must also lie where a recorded purge (an ``audit.purged`` entry) reached,
else its contents were cleared outside a purge.

Kinds of problem: ``edited``, ``deleted``, ``inserted``, ``reordered`` (an entry, named),
``truncated`` (the end), ``checkpoint`` (a signature or a root), ``hashes`` (the stored tree),
``trusted`` (a rewritten history), ``purged`` (contents cleared without a recorded purge).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from identity.audit.merkle import Frontier, MerkleError, leaf_hash, stored_hash_index
from identity.audit.models import AuditCheckpointRow, AuditEntryRow, AuditHashRow
from identity.audit.notes import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from identity.audit.retention import PURGED, PurgeRecords
from identity.audit.rules import Entry, Problem, entry_bytes, mismatch_kind, problem
from identity.audit.store import ENTRY_COLUMNS, PURGED_AT, reader

PAGE = 5000  # rows per round trip while streaming
WINDOW = 8  # entries looked at around a mismatch, to name it
ENTRY, HASH = AuditEntryRow.__table__, AuditHashRow.__table__
CHECKPOINT = AuditCheckpointRow.__table__
COLUMNS = (*ENTRY_COLUMNS, PURGED_AT)
# Problems found before the entry they name was counted as sound.
UNCOUNTED = ("deleted", "truncated", "checkpoint", "trusted", "purged")


@dataclass(frozen=True)
class VerifyResult:
    entries: int  # entries found sound (before the problem, if any)
    checkpoints: int  # checkpoints found sound
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def stream(session: Session, columns: Sequence[Any], *conditions: Any) -> Iterator[Row[Any]]:
    """Core rows of ``columns`` in the order of the first, a key, a page at a time (keyset
    pagination: constant memory, and no long-lived cursor)."""
    key, after = columns[0], -1
    while True:
        statement = select(*columns).where(key > after, *conditions).order_by(key).limit(PAGE)
        rows = session.execute(statement).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def purge_records(session: Session) -> PurgeRecords:
    """Where the recorded purges reached (their entries, placed or not yet)."""
    records = PurgeRecords()
    recorded = select(ENTRY.c.details).where(ENTRY.c.action == PURGED, PURGED_AT.is_(None))
    for details in session.execute(recorded).scalars():
        records.add(details)
    return records


class _Checkpoints:
    """The signed checkpoints in size order, each opened with the log's keys as it comes."""

    def __init__(self, session: Session, verifiers: Sequence[NoteVerifier], origin: str) -> None:
        self._rows = stream(session, (CHECKPOINT.c.size, CHECKPOINT.c.root_hash, CHECKPOINT.c.note))
        self._verifiers = verifiers
        self._origin = origin
        self.checked = 0
        self.next: Checkpoint | None = None

    def advance(self) -> Problem | None:
        row = next(self._rows, None)
        self.next = None
        if row is None:
            return None
        size, root, note = row
        try:
            checkpoint = open_checkpoint(note, self._verifiers, origin=self._origin)
        except NoteError:
            return Problem(size, "checkpoint", f"checkpoint {size} is not signed by the log")
        if checkpoint.size != size or checkpoint.root_hash != bytes(root):
            return Problem(size, "checkpoint", f"checkpoint {size} was altered")
        self.next = checkpoint
        self.checked += 1
        return None


class _Pass:
    """One walk over the entries, the stored hashes and the checkpoints, side by side."""

    def __init__(
        self,
        session: Session,
        verifiers: Sequence[NoteVerifier],
        origin: str,
        trusted: Checkpoint | None,
    ) -> None:
        self.session = session
        self.checkpoints = _Checkpoints(session, verifiers, origin)
        self.hashes = stream(session, (HASH.c.index, HASH.c.hash))
        self.trusted = trusted
        self.frontier = Frontier()
        self.purges = purge_records(session)

    def run(self) -> Problem | None:
        if found := self.checkpoints.advance() or self._at_size():
            return found
        for row in stream(self.session, COLUMNS, ENTRY.c.leaf_index.is_not(None)):
            if found := self._entry(row) or self._at_size():
                return found
        if self.checkpoints.next is not None or (
            self.trusted is not None and self.trusted.size > self.frontier.size
        ):
            return problem("truncated", self.frontier.size)
        return None

    def _entry(self, row: Row[Any]) -> Problem | None:
        index, _, action, _, _, _, purged_at = row
        if index != self.frontier.size:
            return problem("deleted", self.frontier.size)
        if purged_at is not None:
            return self._purged(index, action)
        expected = self.frontier.append(leaf_hash(entry_bytes(*row[:6])))
        stored = self._stored(len(expected))
        if stored and stored[0] != expected[0]:
            return problem(self._name_mismatch(index), index)
        if stored != expected:
            return Problem(index, "hashes", f"the stored hashes at entry #{index} are wrong")
        return None

    def _purged(self, index: int, action: str) -> Problem | None:
        """A purged entry: accepted where a recorded purge covers it, and proved by its stored
        leaf hash, which the stored subtree hashes above it (and the roots) must agree with."""
        if not self.purges.covers(index, action):
            return problem("purged", index)
        leaf = self._stored(1)
        try:
            expected = self.frontier.append(leaf[0]) if leaf else []
        except MerkleError:  # not a hash at all
            expected = []
        if not expected or leaf + self._stored(len(expected) - 1) != expected:
            return Problem(index, "hashes", f"the stored hashes at entry #{index} are wrong")
        return None

    def _stored(self, count: int) -> list[bytes]:
        """The next ``count`` stored hashes (fewer where the table ends)."""
        return [bytes(row[1]) for row in itertools.islice(self.hashes, count)]

    def _name_mismatch(self, index: int) -> str:
        statement = (
            select(*COLUMNS)
            .where(ENTRY.c.leaf_index >= index)
            .order_by(ENTRY.c.leaf_index)
            .limit(WINDOW)
        )
        rows = self.session.execute(statement).all()
        stored = reader(self.session)([stored_hash_index(0, index + i) for i in range(WINDOW)])
        entries = list(itertools.takewhile(lambda r: r[6] is None, rows))  # purged: no bytes
        return mismatch_kind([Entry(*r[:6]) for r in entries], list(stored))

    def _at_size(self) -> Problem | None:
        """Every checkpoint of the size just reached must have the recomputed root."""
        size = self.frontier.size
        while (checkpoint := self.checkpoints.next) is not None and checkpoint.size == size:
            if self.frontier.root() != checkpoint.root_hash:
                return Problem(
                    size, "checkpoint", f"checkpoint {size} does not match the entries before it"
                )
            if found := self.checkpoints.advance():
                return found
        trusted = self.trusted
        if (
            trusted is not None
            and trusted.size == size
            and self.frontier.root() != trusted.root_hash
        ):
            return Problem(
                size, "trusted", f"the log no longer extends the trusted checkpoint {size}"
            )
        return None


def verify_database(
    session: Session,
    verifiers: Sequence[NoteVerifier],
    origin: str,
    trusted: Checkpoint | None = None,
) -> VerifyResult:
    """Verify the whole log as stored; the first problem found, if any."""
    walk = _Pass(session, verifiers, origin, trusted)
    found = walk.run()
    sound = walk.frontier.size
    if found is not None and found.kind not in UNCOUNTED:
        sound -= 1  # the entry named was counted before it was found wrong
    return VerifyResult(sound, walk.checkpoints.checked, found)
