"""Append to and verify the audit log inside the caller's database transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.audit.models import HEAD_ID, AuditEntryRow, AuditHeadRow
from identity.audit.refs import Actor, Subject
from identity.audit.rules import GENESIS, Break, Entry, check_details, entry_hash, find_first_break
from identity.db import utcnow


def record(
    session: Session,
    action: str,
    *,
    actor: Actor,
    subject: Subject | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntryRow:
    """Append one entry to the chain as part of ``session``'s transaction.

    The head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite write transactions already
    hold the database's single write lock), so concurrent writers queue instead of both
    extending the same predecessor. Never put secrets, tokens or raw IP addresses in
    ``details``: use keyed hashes.
    """
    clean = check_details(details or {})
    ref = str(subject) if subject is not None else None
    head = session.execute(
        select(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).with_for_update()
    ).scalar_one()
    at = utcnow()
    seq = head.seq + 1
    digest = entry_hash(
        head.hash, seq=seq, at=at, action=action, actor=str(actor), subject=ref, details=clean
    )
    row = AuditEntryRow(
        seq=seq,
        at=at,
        action=action,
        actor=str(actor),
        subject=ref,
        details=clean,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(row)
    head.seq = seq
    head.hash = digest
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class VerifyResult:
    checked: int
    head_seq: int
    problem: Break | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _entries(session: Session, batch: int = 1000) -> Iterator[Entry]:
    """Stream the log in sequence order without loading it all into memory."""
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.seq > after)
            .order_by(AuditEntryRow.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        for r in rows:
            yield Entry(r.seq, r.at, r.action, r.actor, r.subject, r.details, r.prev_hash, r.hash)
        after = rows[-1].seq
        session.expunge_all()


def verify(session: Session) -> VerifyResult:
    """Walk the whole chain; report the first edited, deleted, inserted or reordered entry."""
    head = session.get(AuditHeadRow, HEAD_ID)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    checked, problem = find_first_break(_entries(session), head_seq=head_seq, head_hash=head_hash)
    return VerifyResult(checked=checked, head_seq=head_seq, problem=problem)
