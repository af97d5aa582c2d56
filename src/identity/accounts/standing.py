"""An operator's lifecycle of accounts: list them, disable and enable one (``identity users``).

Disabling an account (a fraud report, an account takeover being investigated, a customer's
request to their support line) takes effect at once and everywhere:

* signing in is refused, with its own message but only after the right password: to anyone
  else the account answers as before, so disabling reveals nothing (``docs/security.md``);
* every browser session ends now, with the usual cascade (grants bound to a session are
  revoked and its relying parties get a back-channel logout), and no session or token of a
  disabled account is honoured even if one slipped past (``Sessions.find``,
  ``GrantStore.principal``);
* every other grant is revoked too, so refresh tokens die and access tokens introspect
  inactive; an access token verified by its signature alone lives out its ten minutes.

The account and everything about it stay: disabling is not erasure. Enabling lets the customer
sign in again; the sessions and grants that ended stay ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.common import SessionEndedListener
from identity.accounts.models import User
from identity.accounts.rules import disable_reason_problem, normalize_email
from identity.accounts.sessions import Sessions
from identity.audit.refs import Actor, Subject
from identity.db import Database, utcnow
from identity.errors import Conflict, InvalidInput, NotFound

PAGE = 1000


class GrantRevoker(Protocol):
    def __call__(self, session: Session, user_id: uuid.UUID) -> int:
        """Revoke every live grant of the account (in the caller's transaction); how many."""


@dataclass(frozen=True, slots=True)
class AccountListing:
    """An account as operators see it: no password hash, no profile beyond the address."""

    sub: str
    email: str
    email_verified: bool
    locale: str
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None

    @classmethod
    def of(cls, user: User) -> AccountListing:
        return cls(
            sub=user.sub,
            email=user.email,
            email_verified=user.email_verified,
            locale=user.locale,
            created_at=user.created_at,
            disabled_at=user.disabled_at,
            disabled_reason=user.disabled_reason,
        )

    def as_json(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class Disabled:
    sub: str
    sessions_ended: int
    grants_revoked: int


class AccountStanding:
    def __init__(
        self,
        *,
        db: Database,
        sessions: Sessions,
        revoke_grants: GrantRevoker,
        session_listeners: Sequence[SessionEndedListener] = (),
    ) -> None:
        self._db = db
        self._sessions = sessions
        self._revoke_grants = revoke_grants
        self._session_listeners = tuple(session_listeners)

    def listing(self, *, actor: Actor, disabled_only: bool = False) -> Iterator[AccountListing]:
        """Every account (or the disabled ones) by email, read in pages: memory stays the same
        for any number. The listing itself is audited, before the first page."""
        with self._db.transaction() as session:
            audit.record(
                session, "account.listed", actor=actor, details={"disabled_only": disabled_only}
            )
        return self._pages(disabled_only)

    def _pages(self, disabled_only: bool) -> Iterator[AccountListing]:
        after = ""
        while True:
            query = select(User).where(User.email > after).order_by(User.email).limit(PAGE)
            if disabled_only:
                query = query.where(User.disabled_at.is_not(None))
            with self._db.read() as session:
                page = [AccountListing.of(u) for u in session.scalars(query)]
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].email

    def _locked(self, session: Session, email: str) -> User:
        normalized = normalize_email(email)
        user = (
            session.scalars(
                select(User).where(User.email == normalized).with_for_update()
            ).one_or_none()
            if normalized
            else None
        )
        if user is None:
            raise NotFound("no account with that email address")
        return user

    def disable(self, email: str, reason: str, *, actor: Actor) -> Disabled:
        """Disable the account: its sessions end and its grants are revoked, in one
        transaction with the audit entry (``account.disabled``)."""
        problem = disable_reason_problem(reason)
        if problem is not None:
            raise InvalidInput(problem)
        with self._db.transaction() as session:
            user = self._locked(session, email)
            if user.disabled_at is not None:
                raise Conflict(f"the account is disabled already ({user.disabled_reason})")
            user.disabled_at, user.disabled_reason = utcnow(), reason.strip()
            ended = self._sessions.end_all_for_user(session, user.id)
            for row in ended:
                for listener in self._session_listeners:
                    listener(session, row, "account_disabled")
            revoked = self._revoke_grants(session, user.id)
            audit.record(
                session,
                "account.disabled",
                actor=actor,
                subject=Subject.user(user.id),
                details={
                    "reason": user.disabled_reason,
                    "sessions_ended": len(ended),
                    "grants_revoked": revoked,
                },
            )
            return Disabled(user.sub, len(ended), revoked)

    def enable(self, email: str, *, actor: Actor) -> AccountListing:
        with self._db.transaction() as session:
            user = self._locked(session, email)
            if user.disabled_at is None:
                raise Conflict("the account is not disabled")
            user.disabled_at, user.disabled_reason = None, None
            audit.record(session, "account.enabled", actor=actor, subject=Subject.user(user.id))
            return AccountListing.of(user)
