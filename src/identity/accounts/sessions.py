"""Server-side browser sessions.

The cookie carries only a random 256-bit id; the database keeps its SHA-256, so neither a
database leak nor a log line yields a usable session. A new id is issued at every login (no
session fixation), and a session ends after ``session_idle_timeout`` without activity or
``session_absolute_timeout`` after login, whichever comes first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from identity.accounts.models import BrowserSession, User
from identity.accounts.rules import needs_touch, session_is_live, with_method
from identity.crypto import new_token, token_digest
from identity.db import delete_batch


@dataclass(frozen=True, slots=True)
class SessionCookie:
    name: str
    secure: bool
    pending: str = "identity_pending"  # a sign-in waiting for its second factor (not a session)

    @classmethod
    def for_issuer(cls, https: bool) -> SessionCookie:
        # ``__Host-`` binds the cookie to this exact host over https, so a sibling subdomain
        # cannot plant or overwrite it.
        prefix = "__Host-" if https else ""
        return cls(f"{prefix}identity_session", https, f"{prefix}identity_pending")


class Sessions:
    def __init__(self, *, idle_timeout: timedelta, absolute_timeout: timedelta) -> None:
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout

    def start(
        self,
        session: Session,
        user: User,
        *,
        now: datetime,
        amr: str,
        user_agent: str,
        ip_hash: str,
        sid: str | None = None,
    ) -> tuple[str, BrowserSession]:
        """Create a session; returns the cookie value (shown once, never stored) and the row.

        ``sid`` continues an existing session under a new cookie value (re-authentication of
        the same user): relying parties keep their session, the cookie is still rotated.
        """
        cookie_value = new_token()
        row = BrowserSession(
            id_hash=token_digest(cookie_value),
            sid=sid or new_token(24),
            user_id=user.id,
            created_at=now,
            auth_time=now,
            proven_at=now,
            last_seen_at=now,
            expires_at=now + self.absolute_timeout,
            amr=amr,
            user_agent=user_agent[:200],
            ip_hash=ip_hash,
        )
        session.add(row)
        session.flush()
        return cookie_value, row

    def find(
        self, session: Session, cookie_value: str | None, now: datetime
    ) -> BrowserSession | None:
        """The live session behind a cookie value, with its user loaded; None otherwise."""
        if not cookie_value or len(cookie_value) > 128:
            return None
        row = session.execute(
            select(BrowserSession)
            .options(joinedload(BrowserSession.user))
            .where(BrowserSession.id_hash == token_digest(cookie_value))
        ).scalar_one_or_none()
        if row is None or row.user.disabled_at is not None:
            return None  # a disabled account's sessions are ended, and none may outlive that
        if not session_is_live(
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            now=now,
            idle_timeout=self.idle_timeout,
        ):
            return None
        return row

    def touch(self, session: Session, id_hash: str, now: datetime) -> None:
        row = session.get(BrowserSession, id_hash)
        if row is not None and needs_touch(row.last_seen_at, now):
            row.last_seen_at = now

    def record_proof(self, session: Session, id_hash: str, method: str, now: datetime) -> None:
        """The browser proved a factor again (a code asked after sign-in): it joins the
        session's methods (``amr``) and becomes the session's last proof."""
        row = session.get(BrowserSession, id_hash, with_for_update=True)
        if row is not None:
            row.amr = with_method(row.amr, method)
            row.proven_at = now

    def for_user(self, session: Session, user_id: uuid.UUID, now: datetime) -> list[BrowserSession]:
        rows = session.scalars(
            select(BrowserSession)
            .where(BrowserSession.user_id == user_id)
            .order_by(BrowserSession.last_seen_at.desc())
        ).all()
        return [
            r
            for r in rows
            if session_is_live(
                last_seen_at=r.last_seen_at,
                expires_at=r.expires_at,
                now=now,
                idle_timeout=self.idle_timeout,
            )
        ]

    def end(self, session: Session, id_hash: str) -> BrowserSession | None:
        row = session.get(BrowserSession, id_hash)
        if row is not None:
            session.delete(row)
        return row

    def end_all_for_user(
        self, session: Session, user_id: uuid.UUID, *, keep: str | None = None
    ) -> list[BrowserSession]:
        """End every session of a user except ``keep``; returns the ended sessions."""
        query = select(BrowserSession).where(BrowserSession.user_id == user_id)
        if keep is not None:
            query = query.where(BrowserSession.id_hash != keep)
        ended = list(session.scalars(query))
        for row in ended:
            session.delete(row)
        session.flush()
        return ended

    def purge_expired(self, session: Session, now: datetime, limit: int) -> int:
        """Delete at most ``limit`` sessions past either timeout (they can never be used
        again: ``find`` refuses them); housekeeping calls this in batches."""
        return delete_batch(
            session,
            BrowserSession.id_hash,
            (BrowserSession.expires_at <= now)
            | (BrowserSession.last_seen_at <= now - self.idle_timeout),
            limit,
        )
