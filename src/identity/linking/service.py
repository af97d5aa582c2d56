"""Linking an anonymous id to the account that signs in with it, merging, undoing, resolving.

Every step is audited (``link.*``). A forged, expired or another client's id is refused and
audited and never breaks the sign-in it came with. An id links to at most one account; a
second account presenting it gets no merge; once more accounts than the limit presented it
(a shop's kiosk, a family tablet) it is *shared* and merges stop. Accounts are never joined
to each other: a link goes from an anonymous id to one account, never onwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select, update
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
from identity.subjects.service import Claimed, claim_anonymous

MERGE, UNDO = "link_merge", "link_undo"
SUBJECTS = AnonymousSubject.__table__


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

    def link(
        self,
        token: str,
        *,
        client_id: str,
        user_id: uuid.UUID,
        actor: Actor,
        session: Session | None = None,
    ) -> Linked:
        """Link the id to the account (first time) and merge what the visitor decided; in the
        caller's transaction when ``session`` is given (a sign-in's code redemption: the link
        commits with the sign-in, and its entries are sequenced in the same round)."""
        with self._ledger.writing(session) as writes:
            try:
                anonymous = self._anonymous.verify(token, client_id, utcnow())
            except InvalidAnonymousId as exc:
                return self._refused(writes.session, None, client_id, user_id, actor, exc.reason)
            claimed, first = self._present(writes.session, anonymous, user_id)
            reason = self._refusal(claimed, user_id)
            if reason is not None:
                return self._refused(
                    writes.session, anonymous.key, client_id, user_id, actor, reason
                )
            # Nothing recorded for a first-used id: nothing to merge.
            merged = [] if claimed.fresh else self._merge(writes, anonymous, user_id, actor)
            audit.record(
                writes.session,
                "link.created" if first else "link.merged_again",
                actor=actor,
                subject=Subject.user(user_id),
                details={"anonymous": anonymous.key, "client_id": client_id, "merged": merged},
            )
            return Linked("linked" if first else "merged_again", None, tuple(merged))

    def _present(
        self, session: Session, anonymous: AnonymousId, user_id: uuid.UUID
    ) -> tuple[Claimed, bool]:
        """The claim, and whether this account presents the id for the first time. A link is
        only ever made by a presentation, recorded with it, so an id linked to this account
        that it never presented before was linked by this claim."""
        claimed = claim_anonymous(session, anonymous, user_id)
        first = insert_ignoring_conflict(
            session,
            AnonymousPresentation.__table__,
            {"key": anonymous.key, "user_id": user_id, "presented_at": utcnow()},
        )
        if claimed.fresh or claimed.shared or not first:
            return claimed, first  # nobody else presented it, or the same accounts as before
        accounts = int(
            session.scalar(select(func.count()).where(AnonymousPresentation.key == anonymous.key))
            or 0
        )
        if accounts <= self._max_accounts:
            return claimed, first
        linked_now = claimed.user_id == user_id
        session.execute(
            update(SUBJECTS)
            .where(SUBJECTS.c.key == anonymous.key)
            .values(shared=True, **({"user_id": None, "linked_at": None} if linked_now else {}))
        )
        audit.record(
            session,
            "link.shared",
            actor=Actor.client(anonymous.client_id),
            subject=Subject.visitor(anonymous.key),
            details={"accounts": accounts},
        )
        return replace(claimed, shared=True, user_id=None if linked_now else claimed.user_id), first

    @staticmethod
    def _refusal(claimed: Claimed, user_id: uuid.UUID) -> str | None:
        if claimed.unlinked:
            return "unlinked"
        if claimed.shared:
            return "shared"
        if claimed.user_id is not None and claimed.user_id != user_id:
            return "linked_elsewhere"
        return None

    def refuse(
        self,
        client_id: str,
        user_id: uuid.UUID,
        actor: Actor,
        reason: str,
        session: Session | None = None,
    ) -> Linked:
        """A link refused before the id is even looked at (e.g. a third party's)."""
        if session is not None:
            return self._refused(session, None, client_id, user_id, actor, reason)
        with self._db.transaction() as own:
            return self._refused(own, None, client_id, user_id, actor, reason)

    @staticmethod
    def _refused(
        session: Session,
        key: str | None,
        client_id: str,
        user_id: uuid.UUID,
        actor: Actor,
        reason: str,
    ) -> Linked:
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
        both = writes.states_of(anonymous.key, str(user_id))
        visitor, account = both[anonymous.key], both[str(user_id)]
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
