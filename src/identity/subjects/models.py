"""Subjects that are not accounts' own ids: pairwise aliases, and anonymous first-party ids."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime


class SubjectAlias(Base):
    """A pairwise ``sub`` given to a sector at sign-in, so it can be resolved later."""

    __tablename__ = "subject_alias"

    sector: Mapped[str] = mapped_column(String(255), primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )


class AnonymousSubject(Base):
    """An anonymous id that has been used (a consent recorded, a sign-in presented it).

    Issuing an id writes nothing; this row appears with its first use and says which client
    it belongs to, until when it names the visitor, and which account it is linked to (at
    most one; ``shared`` once too many accounts presented it, as on a shop's kiosk).
    """

    __tablename__ = "anonymous_subject"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # "a:<random part>"
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_client.client_id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The customer (or an officer) undid the link: this id links to nobody again.
    unlinked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # its state removed
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
