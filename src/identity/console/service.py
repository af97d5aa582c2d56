"""The console's use cases. Each reads what an officer asked for, then records that they looked
(an ``officer.*`` entry, the officer as actor, whom they looked at as subject) before the
page is built: nothing is shown that the log does not say was shown.

Searches read only entries the sequencer has placed (a leaf index): the log's own order,
which is what makes keyset pages stable while entries keep arriving (:mod:`.rules`). Entries
written in the last instants are counted as waiting, not listed. The conditions are the
export's (:class:`identity.audit.export.Filter`), extended by actor and client, so a page and
the file exported from it hold the same entries.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.models import User
from identity.audit.checkpoints import CheckpointKeys
from identity.audit.export import Filter, lines
from identity.audit.merkle import MerkleError, check_record, leaf_hash
from identity.audit.models import AuditEntryRow
from identity.audit.notes import NoteError, open_checkpoint, parse_vkey
from identity.audit.refs import Actor, Subject
from identity.audit.rules import Entry, PurgedEntry, timestamp
from identity.audit.store import AuditLog, BadTreeSize, UnknownEntry, entries_of
from identity.console.rules import (
    Cursor,
    Email,
    InvalidSearch,
    Problem,
    Search,
    Term,
    day_range,
    decode_cursor,
    encode_cursor,
    window,
)
from identity.crypto import derive_key
from identity.db import Database
from identity.errors import Conflict, InvalidInput
from identity.settings import Settings

FORMATS = {"jsonl": "application/jsonl", "csv": "text/csv"}
SUMMARY = 160  # characters of an entry's details in a list of results


class NothingSigned(Conflict):
    slug = "nothing-signed"
    title = "The log has no signed checkpoint yet"


@dataclass(frozen=True)
class ConsoleFilter(Filter):
    """The export's filter, plus who acted and which client an entry concerns."""

    actor: str | None = None
    client: str | None = None

    @property
    def empty(self) -> bool:
        return super().empty and not (self.actor or self.client)

    def conditions(self) -> list[object]:
        found = super().conditions()
        if self.actor:
            found.append(AuditEntryRow.actor == self.actor)
        if self.client:
            ref, details = f"client:{self.client}", AuditEntryRow.details
            found.append(
                or_(
                    AuditEntryRow.actor == ref,
                    AuditEntryRow.subject == ref,
                    details["client_id"].as_string() == self.client,
                    details["via_client"].as_string() == self.client,
                )
            )
        return found

    def describe(self) -> dict[str, str]:
        extra = {"actor": self.actor, "client": self.client}
        return {**super().describe(), **{k: v for k, v in extra.items() if v}}


@dataclass(frozen=True)
class EntryView:
    """An entry as the console shows it."""

    index: int
    at: datetime
    action: str
    actor: str
    subject: str | None
    details: str  # JSON, keys sorted, one key a line
    summary: str  # the same on one line, cut for a list
    leaf: str  # base64 of the exact bytes the leaf hashes
    timestamp: str  # the time as the leaf has it (UTC, microseconds)
    purged: bool = False  # past its retention: no actor, subject, details or bytes left

    @classmethod
    def of(cls, entry: Entry | PurgedEntry) -> EntryView:
        if isinstance(entry, PurgedEntry):
            at = entry.at
            return cls(entry.index, at, entry.action, "", None, "", "", "", timestamp(at), True)
        details = dict(entry.details)
        line = json.dumps(details, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
        return cls(
            entry.index,
            entry.at,
            entry.action,
            entry.actor,
            entry.subject,
            json.dumps(details, ensure_ascii=False, sort_keys=True, indent=1),
            line if len(line) <= SUMMARY else line[: SUMMARY - 1] + "…",
            _b64(entry.data()),
            timestamp(entry.at),
        )


@dataclass(frozen=True)
class Results:
    entries: list[EntryView]
    older: str | None  # the cursor of the next page down, if any
    newer: str | None
    waiting: int  # matching entries not placed in the log yet (first page only)


@dataclass(frozen=True)
class Proof:
    """An entry's inclusion in the latest signed checkpoint, checked as an outsider would."""

    status: Literal["verified", "pending", "failed"]
    checkpoint_size: int | None = None
    root_hash: str | None = None
    leaf_hash: str | None = None
    hashes: list[str] = field(default_factory=list)
    failure: str | None = None  # checkpoint | proof


@dataclass(frozen=True)
class Export:
    filename: str
    media_type: str
    lines: Iterator[str]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _subject(text: str | None) -> Subject | None:
    """The subject a stored reference names, for an officer entry about it."""
    if not text:
        return None
    try:
        return Subject.parse(text)
    except ValueError:
        return None


class Console:
    def __init__(
        self, *, db: Database, settings: Settings, log: AuditLog, keys: CheckpointKeys
    ) -> None:
        self._db = db
        self._log = log
        self._keys = keys
        self._tz = ZoneInfo(settings.display_timezone)
        self._cursor_key = derive_key(settings.secret, "identity.console.cursor")

    def record(
        self,
        officer: uuid.UUID,
        action: str,
        subject: Subject | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """An officer's look, in the log (its own transaction, committed before the page)."""
        with self._db.transaction() as session:
            audit.record(
                session, action, actor=Actor.user(officer), subject=subject, details=details
            )

    # -- who the officer means ------------------------------------------------------------------

    def resolve(self, search: Search) -> Search:
        """The search with each email address replaced by its account's reference (raises
        :class:`InvalidSearch` for an address no account has)."""
        if search.resolved:
            return search
        refs: dict[str, str | None] = {}
        problems = []
        with self._db.read() as session:
            for name in ("subject", "actor"):
                term = getattr(search, name)
                refs[name] = self._account(session, term) if isinstance(term, Email) else term
                if isinstance(term, Email) and refs[name] is None:
                    problems.append(Problem(name, "email_unknown"))
        if problems:
            raise InvalidSearch(problems)
        return search.with_refs(refs["subject"], refs["actor"])

    def resolve_term(self, term: Term) -> str:
        """One subject reference (an email address becomes its account's)."""
        if not isinstance(term, Email):
            return term
        with self._db.read() as session:
            found = self._account(session, term)
        if found is None:
            raise InvalidSearch([Problem("subject", "email_unknown")])
        return found

    @staticmethod
    def _account(session: Session, email: Email) -> str | None:
        user_id = session.scalar(select(User.id).where(User.email == email.address))
        return f"user:{user_id}" if user_id else None

    def cursor(self, text: str | None, search: Search) -> Cursor | None:
        """The page a link asks for (raises :class:`~.rules.BadCursor`)."""
        return decode_cursor(text, search, self._cursor_key) if text else None

    # -- the search -----------------------------------------------------------------------------

    def filter(self, search: Search) -> ConsoleFilter:
        since, until = day_range(search.since, search.until, self._tz)
        return ConsoleFilter(
            since=since,
            until=until,
            subject=search.subject_ref,
            action=search.action,
            actor=search.actor_ref,
            client=search.client,
        )

    def search(self, officer: uuid.UUID, search: Search, cursor: Cursor | None) -> Results:
        """One page of matching entries, newest first; recorded as ``officer.searched``."""
        where = self.filter(search).conditions()
        placed = AuditEntryRow.leaf_index
        statement = select(AuditEntryRow).where(placed.is_not(None), *where)
        if cursor is None:
            statement = statement.order_by(placed.desc())
        elif cursor.direction == "older":
            statement = statement.where(placed < cursor.index).order_by(placed.desc())
        else:
            statement = statement.where(placed > cursor.index).order_by(placed.asc())
        with self._db.read() as session:
            rows = session.scalars(statement.limit(search.size + 1)).all()
            entries = entries_of(session, rows)
            waiting = 0
            if cursor is None:
                unplaced = select(func.count()).where(placed.is_(None), *where)
                waiting = int(session.scalar(unplaced) or 0)
        page = window([int(row.leaf_index or 0) for row in rows], cursor, search.size)
        self.record(
            officer,
            "officer.searched",
            _subject(search.subject_ref),
            {
                "criteria": search.describe(),
                "page": cursor.direction if cursor else "newest",
                "shown": len(page.indexes),
            },
        )
        key = self._cursor_key
        return Results(
            [EntryView.of(entries[i]) for i in page.indexes],
            encode_cursor(page.older, search, key) if page.older else None,
            encode_cursor(page.newer, search, key) if page.newer else None,
            waiting,
        )

    # -- one entry ------------------------------------------------------------------------------

    def entry(self, officer: uuid.UUID, index: int) -> tuple[EntryView, Proof]:
        """Every field of entry ``index`` and its proof; recorded as ``officer.viewed_entry``
        (raises :class:`~identity.audit.store.UnknownEntry`)."""
        found = self._log.entry(index)
        proof = self.proof(found)
        about = None if isinstance(found, PurgedEntry) else _subject(found.subject)
        self.record(officer, "officer.viewed_entry", about, {"index": index})
        return EntryView.of(found), proof

    def proof(self, entry: Entry | PurgedEntry) -> Proof:
        """Open the latest checkpoint with the published verifier keys, fetch the inclusion
        proof, recompute the leaf from the entry's fields (a purged entry's is its stored leaf
        hash) and run the proof to the signed root: exactly what an outsider holding only
        ``/audit/key`` does."""
        row = self._log.latest_checkpoint()
        if row is None:
            return Proof("pending")
        verifiers = [parse_vkey(k) for k in self._keys.vkeys()]
        try:
            checkpoint = open_checkpoint(row.note, verifiers, origin=self._keys.origin)
        except NoteError:
            return Proof("failed", row.size, failure="checkpoint")
        size, root = checkpoint.size, checkpoint.root_hash
        if entry.index >= size:
            return Proof("pending", size, _b64(root))
        leaf = entry.leaf if isinstance(entry, PurgedEntry) else leaf_hash(entry.data())
        hashes: list[bytes] = []
        try:
            hashes = self._log.inclusion(entry.index, size)
            check_record(hashes, size, root, entry.index, leaf)
        except (MerkleError, BadTreeSize, UnknownEntry):
            return Proof("failed", size, _b64(root), _b64(leaf), [_b64(h) for h in hashes], "proof")
        return Proof("verified", size, _b64(root), _b64(leaf), [_b64(h) for h in hashes])

    # -- exports --------------------------------------------------------------------------------

    def export(self, officer: uuid.UUID, search: Search, fmt: str) -> Export:
        """The matching entries up to the latest checkpoint, as a file that verifies offline
        (``identity audit verify --file``); recorded as ``officer.exported`` before a byte
        is sent."""
        if fmt not in FORMATS:
            raise InvalidInput("export as jsonl or csv")
        checkpoint = self._log.latest_checkpoint()
        if checkpoint is None:
            raise NothingSigned("the log has no signed checkpoint to export against yet")
        where = self.filter(search)
        self.record(
            officer,
            "officer.exported",
            _subject(search.subject_ref),
            {"criteria": search.describe(), "format": fmt, "checkpoint": checkpoint.size},
        )
        name = f"audit-{checkpoint.size}{'' if where.empty else '-filtered'}.{fmt}"
        return Export(name, FORMATS[fmt], lines(self._db, checkpoint, where, fmt))
