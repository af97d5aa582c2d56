"""The consent ledger's one write path: append a record, project it, audit it, tell listeners.

Every decision, whoever makes it (the customer, a service, a confirmation link, GPC), is one
:class:`NewRecord` appended inside a :meth:`Ledger.writing` block: the record (never updated),
the current-state row for (subject, purpose), the audit entry and whatever the listeners add
(webhook messages) are written in one transaction, and what must wait for the commit (double
opt-in messages) runs only after it.

Appending takes no shared lock: the record's place in the change feed (``feed_seq``) is given
after it commits, in the audit log's order, by :class:`~identity.consent.feed.ConsentFeed`.

Every write is a few plain statements (SQLAlchemy Core, no ORM unit of work: a banner choice
per visitor makes this one of the most frequent writes): insert the record, upsert the state
(so two first decisions of one subject at once cannot both insert it; the newest record wins),
insert the audit entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, event, insert, select
from sqlalchemy.orm import Session

from identity import audit
from identity.audit.refs import Actor, Subject
from identity.consent.models import ConsentRecord, ConsentState
from identity.consent.policy import Purpose
from identity.consent.rules import DECISIONS, State, expiry, status_after
from identity.context import Origin
from identity.crypto import Pseudonyms
from identity.db import Database, upsert, utcnow
from identity.errors import Conflict, InvalidInput


class NotSwitchable(Conflict):
    slug = "purpose-not-switchable"
    title = "This purpose cannot be refused"


@dataclass(frozen=True, slots=True)
class NewRecord:
    """One decision to append, with its evidence."""

    subject: str
    purpose: Purpose
    decision: str  # granted | denied | withdrawn
    source: str  # preference_center, api:<client>, gpc, unsubscribe, double_opt_in, ...
    actor: Actor  # who made it
    origin: Origin | None = None  # the customer's own request (IP and user agent), if known
    locale: str | None = None  # the language the text was shown in
    collected_at: datetime | None = None  # default: now
    evidence: Mapping[str, Any] = field(default_factory=dict)
    confirmed: bool = False  # a double opt-in link was used
    text_hash: str | None = None  # default: the purpose text in ``locale``
    via: str | None = None  # the client the customer acted through
    restores: Restore | None = None  # an undo: the state goes back to what it was


@dataclass(frozen=True, slots=True)
class Restore:
    """Put a subject's state for a purpose back as an earlier record left it (``record_id``),
    or back to "never asked" (None). The undo of a merge (identity.linking) is such a record:
    appended like any other, pointing to what it reverts, so the ledger shows both ways."""

    record_id: int | None


REVERTED = "reverted"  # an undo's decision when the state goes back to "never asked"


@dataclass(frozen=True)
class Recorded:
    record: RecordView
    status: str
    purpose: Purpose
    # The subject's state for the purpose is this record's when the transaction commits (not
    # when a later record of a concurrent write got there first, or for an undo).
    current: bool = False

    def state_row(self) -> tuple[Any, ...]:
        """The state this record projected, as a current-state row ``(status, version,
        decided_at, expires_at, record_id)`` with aware datetimes."""
        r = self.record
        return (self.status, r.purpose_version, r.collected_at, r.expires_at, r.id)


@dataclass(frozen=True, slots=True)
class RecordView:
    """A ledger record as readers outside the ledger see it (never the row itself)."""

    id: int
    cursor: int  # the change feed position
    subject: str
    purpose: str
    purpose_version: str
    decision: str
    pending: bool
    source: str
    collected_at: datetime
    recorded_at: datetime
    expires_at: datetime | None
    language: str | None
    text_hash: str | None

    @classmethod
    def of(cls, row: Any) -> RecordView:
        """From a ``consent_record`` row (ORM object or Core row)."""
        return cls(
            row.id,
            row.feed_seq,
            row.subject,
            row.purpose,
            row.purpose_version,
            row.decision,
            row.pending,
            row.source,
            row.collected_at,
            row.recorded_at,
            row.expires_at,
            row.language,
            row.text_hash,
        )


@dataclass
class ConfirmationRequest:
    """A double opt-in message to send once the transaction has committed."""

    subject: str
    purpose: Purpose
    record_id: int
    locale: str


ConfirmationSender = Callable[[ConfirmationRequest], None]


@dataclass
class Writes:
    """What one write transaction appends, and what it leaves for after the commit."""

    session: Session
    _ledger: Ledger
    recorded: list[Recorded] = field(default_factory=list)
    confirmations: list[ConfirmationRequest] = field(default_factory=list)

    def append(self, new: NewRecord) -> Recorded:
        recorded = self._ledger.append(self.session, new)
        self.recorded.append(recorded)
        if recorded.status == "pending":
            locale = recorded.record.language or "en"
            self.confirmations.append(
                ConfirmationRequest(new.subject, new.purpose, recorded.record.id, locale)
            )
        return recorded

    def states(self, subject: str) -> dict[str, State]:
        """The subject's current states, as this transaction sees them."""
        return self.states_of(subject)[subject]

    def states_of(self, *subjects: str) -> dict[str, dict[str, State]]:
        """Several subjects' current states in one query."""
        found: dict[str, dict[str, State]] = {s: {} for s in subjects}
        rows = self.session.execute(
            select(STATE.c.subject, *STATE_COLUMNS).where(STATE.c.subject.in_(subjects))
        )
        for r in rows:
            found[r.subject][r.purpose] = state_of(r)
        return found


class Ledger:
    def __init__(
        self,
        *,
        db: Database,
        pseudonyms: Pseudonyms,
        send_confirmation: ConfirmationSender | None = None,
    ) -> None:
        self._db = db
        self._pseudonyms = pseudonyms
        self._send_confirmation = send_confirmation

    @contextmanager
    def writing(self, session: Session | None = None) -> Iterator[Writes]:
        """A write transaction for appends, or appends in the caller's ``session``;
        confirmations go out after the transaction commits."""
        if session is not None:
            writes = Writes(session, self)
            yield writes
            if self._send_confirmation is not None and writes.confirmations:
                event.listen(session, "after_commit", lambda _: self._confirm(writes), once=True)
            return
        with self._db.transaction() as session:
            writes = Writes(session, self)
            yield writes
        self._confirm(writes)

    def _confirm(self, writes: Writes) -> None:
        if self._send_confirmation is not None:
            for request in writes.confirmations:
                self._send_confirmation(request)

    def append(self, session: Session, new: NewRecord) -> Recorded:
        purpose = new.purpose
        allowed = (*DECISIONS, REVERTED) if new.restores else DECISIONS
        if new.decision not in allowed:
            raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}")
        if new.decision != "granted" and not purpose.switchable:
            raise NotSwitchable(f"{purpose.id} is necessary for your purchases")
        values = self._values(new)
        record_id = session.execute(INSERT_RECORD, values).scalar_one()
        record = RecordView.of(_Row(id=record_id, feed_seq=None, **values))
        current = False
        if new.restores is None:
            current = _project(session, record)
        else:
            _restore(session, record, new.restores.record_id)
        status = "pending" if record.pending else new.decision
        audit.record(
            session,
            "consent.recorded",
            actor=new.actor,
            subject=Subject.of_consent_subject(new.subject),
            details={
                "purpose": purpose.id,
                "version": purpose.version,
                "decision": new.decision,
                "status": status,
                "source": new.source,
                "record_id": record_id,
                **({"via_client": new.via} if new.via else {}),
            },
        )
        return Recorded(record, status, purpose, current)

    def _values(self, new: NewRecord) -> dict[str, Any]:
        now = utcnow()
        collected = new.collected_at or now
        status = (
            new.decision
            if new.decision == REVERTED
            else status_after(new.purpose, new.decision, confirmed=new.confirmed)
        )
        locale = new.locale if new.locale in ("en", "es") else None
        origin = new.origin
        return {
            "subject": new.subject,
            "purpose": new.purpose.id,
            "purpose_version": new.purpose.version,
            "decision": new.decision,
            "pending": status == "pending",
            "source": new.source,
            "collected_at": collected,
            "recorded_at": now,
            "expires_at": None if new.restores else expiry(new.purpose, new.decision, collected),
            "language": locale,
            "text_hash": new.text_hash or (new.purpose.text_hash(locale) if locale else None),
            "ip_hash": self._pseudonyms.ip(origin.ip) if origin and origin.ip else None,
            "user_agent": origin.user_agent[:200] if origin and origin.user_agent else None,
            "evidence": dict(new.evidence),
        }


RECORD = ConsentRecord.__table__
STATE = ConsentState.__table__
INSERT_RECORD = insert(RECORD).returning(RECORD.c.id)  # built once; values come per call
STATE_COLUMNS = (
    STATE.c.purpose,
    STATE.c.status,
    STATE.c.purpose_version,
    STATE.c.decided_at,
    STATE.c.expires_at,
    STATE.c.record_id,
    STATE.c.source,
)


class _Row:
    """Attribute access over a record's column values (for :meth:`RecordView.of`)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _project(session: Session, record: RecordView, *, only_newer: bool = True) -> bool:
    """The current-state row follows the newest record (by id: of two decisions made at
    once, the later one stays, whichever transaction commits first); whether it is this one."""
    return upsert(
        session,
        STATE,
        {
            "subject": record.subject,
            "purpose": record.purpose,
            "status": "pending" if record.pending else record.decision,
            "purpose_version": record.purpose_version,
            "decided_at": record.collected_at,
            "expires_at": record.expires_at,
            "source": record.source,
            "record_id": record.id,
        },
        keys=("subject", "purpose"),
        only_if=_newer if only_newer else None,
    )


def _newer(table: Any, excluded: Any) -> Any:
    return table.c.record_id < excluded.record_id


def _restore(session: Session, undo: RecordView, record_id: int | None) -> None:
    """The state as record ``record_id`` left it (kept pointing to that record), or gone."""
    earlier = (
        session.execute(select(RECORD).where(RECORD.c.id == record_id)).one_or_none()
        if record_id is not None
        else None
    )
    if earlier is None:
        session.execute(
            delete(STATE).where(STATE.c.subject == undo.subject, STATE.c.purpose == undo.purpose)
        )
        return
    _project(session, RecordView.of(earlier), only_newer=False)


def state_of(row: Any) -> State:
    return State(
        row.status, row.purpose_version, row.decided_at, row.expires_at, row.record_id, row.source
    )
