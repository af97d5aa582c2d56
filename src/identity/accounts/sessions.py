"""Server-side browser sessions.

The cookie carries only a random 256-bit id; the database keeps its SHA-256, so neither a
database leak nor a log line yields a usable session. A new id is issued at every login (no
session fixation), and a session ends after ``session_idle_timeout`` without activity or
``session_absolute_timeout`` after login, whichever comes first. A session started with "keep
me signed in" (``remember``) uses ``session_remember_idle_timeout`` and
``session_remember_absolute_timeout`` instead, and its cookie outlives the browser.
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
    device: str = "identity_device"  # which browser this is, for new-device alerts

    @classmethod
    def for_issuer(cls, https: bool) -> SessionCookie:
        # ``__Host-`` binds the cookie to this exact host over https, so a sibling subdomain
        # cannot plant or overwrite it.
        prefix = "__Host-" if https else ""
        return cls(
            f"{prefix}identity_session",
            https,
            f"{prefix}identity_pending",
            f"{prefix}identity_device",
        )


class Sessions:
    def __init__(
        self,
        *,
        idle_timeout: timedelta,
        absolute_timeout: timedelta,
        remember_idle_timeout: timedelta | None = None,
        remember_absolute_timeout: timedelta | None = None,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self.remember_idle_timeout = remember_idle_timeout or idle_timeout
        self.remember_absolute_timeout = remember_absolute_timeout or absolute_timeout

    def idle_timeout_of(self, row: BrowserSession) -> timedelta:
        return self.remember_idle_timeout if row.remember else self.idle_timeout

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
        remember: bool = False,
    ) -> tuple[str, BrowserSession]:
        """Create a session; returns the cookie value (shown once, never stored) and the row.

        ``sid`` continues an existing session under a new cookie value (re-authentication of
        the same user): relying parties keep their session, the cookie is still rotated.
        ``remember`` ("keep me signed in") gives it the longer timeouts.
        """
        lifetime = self.remember_absolute_timeout if remember else self.absolute_timeout
        cookie_value = new_token()
        row = BrowserSession(
            id_hash=token_digest(cookie_value),
            sid=sid or new_token(24),
            user_id=user.id,
            created_at=now,
            auth_time=now,
            proven_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            amr=amr,
            user_agent=user_agent[:200],
            ip_hash=ip_hash,
            remember=remember,
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
            idle_timeout=self.idle_timeout_of(row),
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
                idle_timeout=self.idle_timeout_of(r),
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
        idle = (BrowserSession.last_seen_at <= now - self.idle_timeout) & ~BrowserSession.remember
        idle_remembered = BrowserSession.remember & (
            BrowserSession.last_seen_at <= now - self.remember_idle_timeout
        )
        return delete_batch(
            session,
            BrowserSession.id_hash,
            (BrowserSession.expires_at <= now) | idle | idle_remembered,
            limit,
        )
