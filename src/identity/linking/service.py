"""Linking an anonymous id to the account that signs in with it, merging, undoing, resolving.

Every step is audited (``link.*``). A forged, expired or another client's id is refused and
audited and never breaks the sign-in it came with. An id links to at most one account; a
second account presenting it gets no merge; once more accounts than the limit presented it
(a shop's kiosk, a family tablet) it is *shared* and merges stop. Accounts are never joined
to each other: a link goes from an anonymous id to one account, never onwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from identity import audit
from identity.audit.refs import SYSTEM, Actor, Subject
from identity.consent.ledger import REVERTED, Ledger, NewRecord, Restore, Writes
from identity.consent.models import ConsentRecord, ConsentState
from identity.consent.policy import Catalog
from identity.db import Database, insert_ignoring_conflict, utcnow
from identity.linking.models import AnonymousPresentation
from identity.linking.rules import merge_decision
from identity.subjects.anonymous import AnonymousId, AnonymousIds, InvalidAnonymousId
from identity.subjects.models import AnonymousSubject
from identity.subjects.service import remember_anonymous

MERGE, UNDO = "link_merge", "link_undo"


@dataclass(frozen=True)
class Linked:
    """What presenting an anonymous id at sign-in did."""

    outcome: str  # linked | merged_again | refused
    reason: str | None = None  # malformed | forged | expired | linked_elsewhere | shared | unlinked
    merged: tuple[str, ...] = ()  # purposes the merge changed


@dataclass(frozen=True)
class Link:
    """An anonymous id linked to an account, as the preference center shows it."""

    key: str
    client_id: str
    linked_at: datetime
    merged: list[ConsentRecord]


class Linking:
    def __init__(
        self,
        *,
        db: Database,
        anonymous: AnonymousIds,
        ledger: Ledger,
        catalog: Catalog,
        max_accounts: int,
    ) -> None:
        self._db = db
        self._anonymous = anonymous
        self._ledger = ledger
        self._catalog = catalog
        self._max_accounts = max_accounts

    # -- at sign-in --------------------------------------------------------------------------

    def link(self, token: str, *, client_id: str, user_id: uuid.UUID, actor: Actor) -> Linked:
        """Link the id to the account (first time) and merge what the visitor decided."""
        try:
            anonymous = self._anonymous.verify(token, client_id, utcnow())
        except InvalidAnonymousId as exc:
            return self._refused(None, client_id, user_id, actor, exc.reason)
        with self._ledger.writing() as writes:
            row = self._present(writes.session, anonymous, user_id)
            reason = self._refusal(row, user_id)
            if reason is None:
                again = row.user_id is not None
                if not again:
                    row.user_id, row.linked_at = user_id, utcnow()
                merged = self._merge(writes, anonymous, user_id, actor)
                audit.record(
                    writes.session,
                    "link.merged_again" if again else "link.created",
                    actor=actor,
                    subject=Subject.user(user_id),
                    details={"anonymous": anonymous.key, "client_id": client_id, "merged": merged},
                )
                return Linked("merged_again" if again else "linked", None, tuple(merged))
        return self._refused(anonymous.key, client_id, user_id, actor, reason)

    def _present(
        self, session: Session, anonymous: AnonymousId, user_id: uuid.UUID
    ) -> AnonymousSubject:
        row = remember_anonymous(session, anonymous)
        session.refresh(row, with_for_update=True)  # one sign-in at a time decides the link
        insert_ignoring_conflict(
            session,
            AnonymousPresentation,
            {"key": anonymous.key, "user_id": user_id, "presented_at": utcnow()},
        )
        accounts = session.scalar(
            select(func.count()).where(AnonymousPresentation.key == anonymous.key)
        )
        if not row.shared and int(accounts or 0) > self._max_accounts:
            row.shared = True
            audit.record(
                session,
                "link.shared",
                actor=Actor.client(anonymous.client_id),
                subject=Subject.visitor(anonymous.key),
                details={"accounts": int(accounts or 0)},
            )
        return row

    @staticmethod
    def _refusal(row: AnonymousSubject, user_id: uuid.UUID) -> str | None:
        if row.unlinked_at is not None:
            return "unlinked"
        if row.shared:
            return "shared"
        if row.user_id is not None and row.user_id != user_id:
            return "linked_elsewhere"
        return None

    def refuse(self, client_id: str, user_id: uuid.UUID, actor: Actor, reason: str) -> Linked:
        """A link refused before the id is even looked at (e.g. a third party's)."""
        return self._refused(None, client_id, user_id, actor, reason)

    def _refused(
        self, key: str | None, client_id: str, user_id: uuid.UUID, actor: Actor, reason: str
    ) -> Linked:
        with self._db.transaction() as session:
            audit.record(
                session,
                "link.refused",
                actor=actor,
                subject=Subject.user(user_id),
                details={"anonymous": key, "client_id": client_id, "reason": reason},
            )
        return Linked("refused", reason)

    def _merge(
        self, writes: Writes, anonymous: AnonymousId, user_id: uuid.UUID, actor: Actor
    ) -> list[str]:
        visitor, account = writes.states(anonymous.key), writes.states(str(user_id))
        merged = []
        for purpose in self._catalog:
            decision = merge_decision(
                purpose, account.get(purpose.id), visitor.get(purpose.id), utcnow()
            )
            if decision is None:
                continue
            source_state = visitor[purpose.id]
            previous = account.get(purpose.id)
            writes.append(
                NewRecord(
                    subject=str(user_id),
                    purpose=purpose,
                    decision=decision,
                    source=MERGE,
                    actor=actor,
                    collected_at=source_state.decided_at,
                    evidence={
                        "from_records": [source_state.record_id],
                        "anonymous": anonymous.key,
                        "channel": anonymous.client_id,
                        "replaces_record": previous.record_id if previous else None,
                    },
                )
            )
            merged.append(purpose.id)
        return merged

    # -- undo ----------------------------------------------------------------------------------

    def undo(self, key: str, *, user_id: uuid.UUID, actor: Actor) -> list[str]:
        """Revert the merged choices still in effect and unlink the id; returns the purposes."""
        with self._ledger.writing() as writes:
            row = writes.session.get(AnonymousSubject, key, with_for_update=True)
            if row is None or row.user_id != user_id:
                return []
            reverted = self._revert(writes, key, user_id, actor)
            row.user_id, row.linked_at, row.unlinked_at = None, None, utcnow()
            audit.record(
                writes.session,
                "link.undone",
                actor=actor,
                subject=Subject.user(user_id),
                details={"anonymous": key, "client_id": row.client_id, "reverted": reverted},
            )
        return reverted

    def _revert(self, writes: Writes, key: str, user_id: uuid.UUID, actor: Actor) -> list[str]:
        session, subject = writes.session, str(user_id)
        current = writes.states(subject)
        reverted = []
        for record in self._merges(session, subject, key):
            state = current.get(record.purpose)
            if state is None or state.record_id != record.id:
                continue  # the customer decided again since: that stays
            earlier_id = record.evidence.get("replaces_record")
            earlier = session.get(ConsentRecord, earlier_id) if earlier_id else None
            writes.append(
                NewRecord(
                    subject=subject,
                    purpose=self._catalog.require(record.purpose),
                    decision=earlier.decision if earlier else REVERTED,
                    source=UNDO,
                    actor=actor,
                    evidence={"reverts": record.id, "anonymous": key},
                    restores=Restore(earlier.id if earlier else None),
                )
            )
            reverted.append(record.purpose)
        return reverted

    @staticmethod
    def _merges(session: Session, subject: str, key: str) -> list[ConsentRecord]:
        rows = session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.subject == subject, ConsentRecord.source == MERGE)
            .order_by(ConsentRecord.id)
        )
        return [r for r in rows if r.evidence.get("anonymous") == key]

    # -- lifecycle --------------------------------------------------------------------------------

    def expire(self, now: datetime, limit: int | None = None) -> int:
        """Anonymous ids past their expiry: unlinked, and their own consent state removed (the
        records stay, pseudonymous, as proof). Returns how many were expired now (at most
        ``limit``: housekeeping goes in batches)."""
        with self._db.transaction() as session:
            rows = session.scalars(
                select(AnonymousSubject)
                .where(AnonymousSubject.expires_at <= now, AnonymousSubject.expired_at.is_(None))
                .order_by(AnonymousSubject.key)
                .limit(limit)
            ).all()
            for row in rows:
                session.execute(
                    ConsentState.__table__.delete().where(ConsentState.subject == row.key)
                )
                was_linked = row.user_id
                row.user_id, row.expired_at = None, now
                audit.record(
                    session,
                    "anonymous.expired",
                    actor=SYSTEM,
                    subject=Subject.visitor(row.key),
                    details={"client_id": row.client_id, "was_linked": was_linked is not None},
                )
        return len(rows)

    # -- for the preference center ---------------------------------------------------------------

    def links_of(self, user_id: uuid.UUID) -> list[Link]:
        with self._db.read() as session:
            rows = session.scalars(
                select(AnonymousSubject)
                .where(AnonymousSubject.user_id == user_id)
                .order_by(AnonymousSubject.linked_at)
            ).all()
            return [
                Link(r.key, r.client_id, r.linked_at, self._merges(session, str(user_id), r.key))
                for r in rows
                if r.linked_at is not None
            ]
