"""Account tables. Secrets (password, session id, link ids) are stored only as hashes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from identity.db import Base, UTCDateTime


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # normalised, lower case
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Optional profile data, released only under the ``phone``/``address`` scopes.
    phone_number: Mapped[str | None] = mapped_column(String(32))
    phone_number_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Disabled by an operator (``identity users disable``): no sign-in, no session, no token.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(200))

    sessions: Mapped[list[BrowserSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def sub(self) -> str:
        """The public subject identifier (pairwise identifiers are derived from it)."""
        return str(self.id)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class UserRole(Base):
    """A role an operator granted an account (``identity users grant-role``): today only
    ``officer``, who opens the privacy console."""

    __tablename__ = "user_role"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    granted_by: Mapped[str] = mapped_column(String(100))  # the operator, as audited


class BrowserSession(Base):
    """A signed-in browser. The cookie holds a random id; only its SHA-256 is stored here."""

    __tablename__ = "browser_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str] = mapped_column(String(43), unique=True)  # public id (OIDC ``sid``)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute timeout
    amr: Mapped[str] = mapped_column(String(64))  # space-separated methods: "pwd", "pwd otp"
    # The last time this browser proved a factor (the sign-in, a code asked again later):
    # what officers' exports and erasures check, within IDENTITY_OFFICER_REAUTH_AFTER.
    proven_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(String(200))
    ip_hash: Mapped[str] = mapped_column(String(64))
    # "Keep me signed in": the longer idle and absolute timeouts, and a persistent cookie.
    remember: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship(back_populates="sessions")


class LoginThrottle(Base):
    """Failed-login counter for one key (a keyed hash of an email or of a client IP)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KnownDevice(Base):
    """A browser (its first-party device cookie) that has signed in to an account before; a
    sign-in from one not listed here mails the account a new-device alert. Only a digest of
    the cookie's random id is stored."""

    __tablename__ = "known_device"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    device_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
