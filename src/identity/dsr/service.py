"""Data subject requests: the export of everything held about a customer, erasure (asked for
by the customer with a grace period, or executed at once by an officer), the due run, and the
queue the officer console shows. Each public method is one transaction (an export: a read,
then the write that records it).

Audit actions written here: ``dsr.access_exported``, ``dsr.erasure_requested``,
``dsr.erasure_cancelled``, ``dsr.erasure_executed`` (details hold the request id, who asked,
an officer's reason and counts; never an email, a name or an address). Every request leaves
a row in ``dsr_request`` (:mod:`identity.dsr.models`): an erasure's is its tombstone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.models import User
from identity.accounts.rules import normalize_email
from identity.audit.refs import SYSTEM, Actor, Subject
from identity.consent.models import ConsentRecord
from identity.context import CurrentSession, Origin
from identity.crypto import Pseudonyms
from identity.db import Database, rfc3339, utcnow
from identity.dsr.coverage import COVERAGE
from identity.dsr.erasure import ErasureNotices, SignOut, erase_account, person_of
from identity.dsr.models import DsrRequest
from identity.dsr.rules import (
    ACCESS,
    CANCELLED,
    DONE,
    ERASURE,
    EXPORT_FORMAT,
    PENDING,
    is_due,
    is_overdue,
    needs_password,
    queue_order,
    reason_problem,
    schedule,
)
from identity.dsr.sections import ExportContext, Person
from identity.errors import InvalidInput, NotFound


class UnknownSubject(NotFound):
    slug = "unknown-subject"
    title = "No such customer"


class Reauthenticate(Protocol):
    def __call__(self, current: CurrentSession, password: str, origin: Origin) -> None:
        """Check the signed-in customer's password (raises LoginFailed, TooManyAttempts)."""


class ErasureMail(Protocol):
    def requested(self, user: User, requested_at: datetime, scheduled_for: datetime) -> None:
        """Tell the customer their erasure was asked for, and until when they can cancel."""


@dataclass(frozen=True)
class RequestView:
    """A request as the account page and the officer console see it."""

    id: str
    subject: str  # the account id
    kind: str
    status: str
    requested_at: datetime
    scheduled_for: datetime | None
    due_at: datetime
    executed_at: datetime | None
    cancelled_at: datetime | None
    reason: str | None
    requested_by: str
    executed_by: str | None
    cancelled_by: str | None
    summary: dict[str, Any] | None
    overdue: bool

    @classmethod
    def of(cls, row: DsrRequest, now: datetime) -> RequestView:
        return cls(
            str(row.id),
            row.subject,
            row.kind,
            row.status,
            row.requested_at,
            row.scheduled_for,
            row.due_at,
            row.executed_at,
            row.cancelled_at,
            row.reason,
            row.requested_by,
            row.executed_by,
            row.cancelled_by,
            row.summary,
            is_overdue(row.status, row.due_at, now),
        )


class DataSubjectRequests:
    def __init__(
        self,
        *,
        db: Database,
        pseudonyms: Pseudonyms,
        issuer: str,
        grace: timedelta,
        reauthenticate: Reauthenticate,
        sign_out: SignOut,
        notices: ErasureNotices,
        client_name: Callable[[str], str | None],
        receipt: Callable[[ConsentRecord], str | None],
        mail: ErasureMail | None = None,
    ) -> None:
        self._db = db
        self._pseudonyms = pseudonyms
        self._issuer = issuer
        self._grace = grace
        self._reauthenticate = reauthenticate
        self._sign_out = sign_out
        self._notices = notices
        self._context = ExportContext(client_name, receipt)
        self._mail = mail

    # -- who --------------------------------------------------------------------------------

    def resolve(self, subject: str | uuid.UUID) -> uuid.UUID:
        """An account id from its id or its email address (raises :class:`UnknownSubject`)."""
        if isinstance(subject, uuid.UUID):
            return subject
        text = subject.strip()
        if "@" in text:
            with self._db.read() as session:
                found = session.scalar(select(User.id).where(User.email == normalize_email(text)))
            if found is None:
                raise UnknownSubject("no account has that email address")
            return found
        try:
            return uuid.UUID(text)
        except ValueError as exc:
            raise UnknownSubject("not an account id or an email address") from exc

    def needs_password(self, current: CurrentSession) -> bool:
        """Whether this session must confirm the password before an export."""
        return needs_password(current.session.auth_time, utcnow())

    # -- access (Art. 15, 20) ----------------------------------------------------------------

    def export(self, subject: str | uuid.UUID, *, actor: Actor) -> dict[str, Any]:
        """Everything held about the customer, as one JSON document (``format`` names its
        version). The export is recorded (a done access request) and audited."""
        user_id = self.resolve(subject)
        document = self._document(user_id)
        now = utcnow()
        with self._db.transaction() as session:
            row = self._new(session, user_id, ACCESS, DONE, actor, now, scheduled_for=None)
            row.executed_at, row.executed_by = now, str(actor)
            row.summary = {k: len(v) for k, v in document.items() if isinstance(v, list)}
            audit.record(
                session,
                "dsr.access_exported",
                actor=actor,
                subject=Subject.user(user_id),
                details={"request": str(row.id), "format": EXPORT_FORMAT},
            )
        return document

    def download(self, current: CurrentSession, password: str, origin: Origin) -> dict[str, Any]:
        """The customer's own export, from their account page: a sign-in older than a few
        minutes is confirmed with the password first."""
        if self.needs_password(current):
            self._reauthenticate(current, password, origin)
        return self.export(current.user.id, actor=Actor.user(current.user.id))

    def _document(self, user_id: uuid.UUID) -> dict[str, Any]:
        now = utcnow()
        with self._db.read() as session:
            user = session.get(User, user_id)
            if user is None:
                raise UnknownSubject("no such account (erased?)")
            person = person_of(session, user, self._pseudonyms, now)
            document: dict[str, Any] = {
                "format": EXPORT_FORMAT,
                "generated_at": rfc3339(now),
                "issuer": self._issuer,
                "subject": person.subject,
            }
            for coverage in reversed(COVERAGE.values()):  # the account first
                if coverage.export is not None and coverage.section is not None:
                    document[coverage.section] = coverage.export(session, person, self._context)
            document["not_exported"] = {
                table: c.note for table, c in COVERAGE.items() if c.export is None
            }
        return document

    # -- erasure (Art. 17) --------------------------------------------------------------------

    def request_erasure(
        self, current: CurrentSession, password: str, origin: Origin
    ) -> RequestView:
        """The customer asks to be erased: always with the password; executed after the
        grace period unless cancelled. Asking again returns the pending request."""
        self._reauthenticate(current, password, origin)
        return self._schedule(current.user.id, Actor.user(current.user.id), None)

    def cancel_erasure(self, user_id: uuid.UUID, *, actor: Actor) -> bool:
        """Withdraw a pending erasure; False when there is none."""
        now = utcnow()
        with self._db.transaction() as session:
            row = self._pending(session, str(user_id), lock=True)
            if row is None:
                return False
            row.status, row.cancelled_at, row.cancelled_by = CANCELLED, now, str(actor)
            audit.record(
                session,
                "dsr.erasure_cancelled",
                actor=actor,
                subject=Subject.user(user_id),
                details={"request": str(row.id)},
            )
        return True

    def erase(
        self, subject: str | uuid.UUID, *, actor: Actor, reason: str, immediately: bool = True
    ) -> RequestView:
        """An officer's erasure, with a reason (kept in the tombstone and the audit log, so it
        must not name the customer): executed now, or scheduled like a customer's request."""
        user_id = self.resolve(subject)
        if not immediately:
            return self._schedule(user_id, actor, reason)
        now = utcnow()
        with self._db.transaction() as session:
            user = self._locked_user(session, user_id)
            person = person_of(session, user, self._pseudonyms, now)
            kept_reason = self._checked_reason(reason, person)
            row = self._pending(session, person.subject, lock=True) or self._new(
                session, user_id, ERASURE, PENDING, actor, now, scheduled_for=now
            )
            row.reason = kept_reason
            self._execute(session, row, person, actor)
            return RequestView.of(row, now)

    def run_due(self, now: datetime | None = None) -> list[RequestView]:
        """Execute every pending erasure whose grace period has passed, oldest deadline
        first, each in its own transaction (``identity dsr run`` and the server's worker)."""
        now = now or utcnow()
        with self._db.read() as session:
            ids = session.scalars(
                select(DsrRequest.id)
                .where(
                    DsrRequest.status == PENDING,
                    DsrRequest.kind == ERASURE,
                    DsrRequest.scheduled_for <= now,
                )
                .order_by(DsrRequest.due_at)
            ).all()
        done = [self._run_one(request_id, now) for request_id in ids]
        return [view for view in done if view is not None]

    def _run_one(self, request_id: uuid.UUID, now: datetime) -> RequestView | None:
        with self._db.transaction() as session:
            query = select(DsrRequest).where(DsrRequest.id == request_id)
            if self._db.dialect == "postgresql":  # another process may be running it
                query = query.with_for_update(skip_locked=True)
            row = session.scalars(query).first()
            if row is None or not is_due(row.status, row.scheduled_for, now):
                return None
            user = session.get(User, uuid.UUID(row.subject), with_for_update=True)
            if user is None:  # erased meanwhile by an officer
                row.status, row.executed_at, row.executed_by = DONE, now, str(SYSTEM)
                row.summary = {"already_erased": 1}
            else:
                self._execute(session, row, person_of(session, user, self._pseudonyms, now), SYSTEM)
            return RequestView.of(row, now)

    def _execute(self, session: Session, row: DsrRequest, person: Person, actor: Actor) -> None:
        summary = erase_account(
            session, person, sign_out=self._sign_out, notices=self._notices, actor=actor
        )
        row.status, row.executed_at, row.executed_by = DONE, person.now, str(actor)
        row.summary = summary
        audit.record(
            session,
            "dsr.erasure_executed",
            actor=actor,
            subject=Subject.user(person.user_id),
            details={
                "request": str(row.id),
                "requested_by": row.requested_by,
                "reason": row.reason,
                "summary": summary,
            },
        )

    def _schedule(self, user_id: uuid.UUID, actor: Actor, reason: str | None) -> RequestView:
        now = utcnow()
        plan = schedule(now, self._grace)
        with self._db.transaction() as session:
            user = self._locked_user(session, user_id)
            existing = self._pending(session, str(user_id), lock=True)
            if existing is not None:
                return RequestView.of(existing, now)
            if reason is not None:
                reason = self._checked_reason(
                    reason, person_of(session, user, self._pseudonyms, now)
                )
            row = self._new(
                session, user_id, ERASURE, PENDING, actor, now, scheduled_for=plan.scheduled_for
            )
            row.reason = reason
            audit.record(
                session,
                "dsr.erasure_requested",
                actor=actor,
                subject=Subject.user(user_id),
                details={
                    "request": str(row.id),
                    "scheduled_for": rfc3339(plan.scheduled_for),
                    "due_at": rfc3339(plan.due_at),
                    "reason": reason,
                },
            )
            view = RequestView.of(row, now)
        if self._mail is not None:
            self._mail.requested(user, now, plan.scheduled_for)
        return view

    # -- reads ------------------------------------------------------------------------------------

    def pending_erasure(self, user_id: uuid.UUID) -> RequestView | None:
        with self._db.read() as session:
            row = self._pending(session, str(user_id), lock=False)
            return RequestView.of(row, utcnow()) if row is not None else None

    def queue(
        self, *, status: str | None = None, kind: str | None = None, limit: int = 200
    ) -> list[RequestView]:
        """Requests for the officer console: pending ones first, each group oldest deadline
        first, with ``overdue`` set for pending requests past their one-month deadline."""
        query = select(DsrRequest).order_by(DsrRequest.due_at).limit(limit)
        if status is not None:
            query = query.where(DsrRequest.status == status)
        if kind is not None:
            query = query.where(DsrRequest.kind == kind)
        now = utcnow()
        with self._db.read() as session:
            return queue_order(RequestView.of(r, now) for r in session.scalars(query))

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _locked_user(session: Session, user_id: uuid.UUID) -> User:
        user = session.get(User, user_id, with_for_update=True)
        if user is None:
            raise UnknownSubject("no such account (erased?)")
        return user

    @staticmethod
    def _checked_reason(reason: str, person: Person) -> str:
        problem = reason_problem(reason, person.personal)
        if problem is not None:
            raise InvalidInput(problem, field="reason")
        return reason.strip()

    @staticmethod
    def _pending(session: Session, subject: str, *, lock: bool) -> DsrRequest | None:
        query = select(DsrRequest).where(
            DsrRequest.subject == subject,
            DsrRequest.kind == ERASURE,
            DsrRequest.status == PENDING,
        )
        return session.scalars(query.with_for_update() if lock else query).first()

    @staticmethod
    def _new(
        session: Session,
        user_id: uuid.UUID,
        kind: str,
        status: str,
        actor: Actor,
        now: datetime,
        *,
        scheduled_for: datetime | None,
    ) -> DsrRequest:
        row = DsrRequest(
            id=uuid.uuid4(),
            subject=str(user_id),
            kind=kind,
            status=status,
            requested_at=now,
            scheduled_for=scheduled_for,
            due_at=schedule(now, timedelta(0)).due_at,
            requested_by=str(actor),
        )
        session.add(row)
        session.flush()
        return row
